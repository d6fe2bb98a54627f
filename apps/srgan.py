"""The super-resolution page: upload, compare bicubic and the model on a slider, download the result.

API endpoint (``gradio_client``):
    ``/srgan``: ``(image file, checkpoint name, outscale) -> ((bicubic, model) pair, result file)``;
    every image is the input's size × ``outscale`` (1-4; the network's own scale by default).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from apps.common import (
    IMAGE_HEIGHT,
    MODEL_CONCURRENCY_ID,
    PageContext,
    checkpoint_picker,
    example_files,
    held_out_examples,
    input_image,
    publish_image,
    read_upload,
    run_pipeline,
    user_error,
)
from translate.imageio import bicubic_resize

PIPELINE = "srgan"
TITLE = "Super-resolution"
MAX_OUTSCALE = 4.0


class SuperResolutionPage:
    """Handlers of the page, bound to the served models and the limits."""

    def __init__(self, context: PageContext) -> None:
        self.context = context

    def scale(self, checkpoint: str) -> int:
        """The network's own upscaling factor."""
        return int(self.context.models.info(checkpoint).metadata.get("scale", 1))

    def upscale(
        self, image: str | None, checkpoint: str, outscale: float | None = None
    ) -> tuple[tuple[str, str], str]:
        """Upscale an upload; big ones run in overlapping tiles inside the pipeline.

        The pixel limit applies to the result: an input may have ``max_pixels / s²`` pixels,
        ``s`` the larger of the network's scale and ``outscale``.

        Returns:
            ((bicubic PNG, model PNG) for the slider, the model PNG again for download), all
            the input's size × ``outscale``.
        """
        scale = self.scale(checkpoint)
        outscale = float(outscale or scale)
        if not 1 <= outscale <= MAX_OUTSCALE:
            raise user_error(f"outscale must be between 1 and {MAX_OUTSCALE:g}, got {outscale:g}")
        max_pixels = int(self.context.limits.max_pixels / max(scale, outscale) ** 2)
        pipeline = self.context.models.get(checkpoint)
        source = read_upload(image, pipeline.input_channels, max_pixels)
        output = run_pipeline(pipeline, source, outscale=outscale)
        bicubic = bicubic_resize(source.pixels, tuple(output.pixels.shape[-2:]))
        stem = f"{Path(image or 'image').stem}-{checkpoint}-x{outscale:g}"
        result = publish_image(output.pixels, stem, alpha=output.alpha)
        return (publish_image(bicubic, f"{stem}-bicubic"), result), result


def build(context: PageContext) -> None:
    """Lay out the page inside the current ``gr.Tab`` and wire its events."""
    page = SuperResolutionPage(context)
    names = context.models.names(PIPELINE)
    gr.Markdown(
        "Single-image super-resolution. Drag the slider to compare bicubic interpolation (left) "
        "with the model (right); big images run in overlapping tiles. The result is also offered "
        "as a full-resolution PNG."
    )
    checkpoint = checkpoint_picker(context, names, "srgan")
    outscale = gr.Slider(
        1, MAX_OUTSCALE, value=page.scale(names[0]), step=0.5, label="Output scale", elem_id="srgan-outscale"
    )
    checkpoint.change(
        lambda name: gr.Slider(value=page.scale(name)),
        inputs=checkpoint,
        outputs=outscale,
        api_visibility="private",
        queue=False,
    )
    with gr.Row():
        upload = input_image(elem_id="srgan-input")
        comparison = gr.ImageSlider(
            label="Bicubic | model",
            type="filepath",
            format="png",
            max_height=IMAGE_HEIGHT * 2,
            elem_id="srgan-comparison",
            elem_classes="translate-image",
        )
    download = gr.File(label="Full-resolution result (PNG)", elem_id="srgan-download")
    run = gr.Button("Upscale", variant="primary", elem_id="srgan-run")
    run.click(
        page.upscale,
        inputs=[upload, checkpoint, outscale],
        outputs=[comparison, download],
        api_name="srgan",
        concurrency_id=MODEL_CONCURRENCY_ID,
    )
    rows = [[str(path), name, page.scale(name)] for name in names for path in example_files(context, name)]
    if rows:
        held_out_examples(rows, [upload, checkpoint, outscale], [comparison, download], page.upscale, "srgan")
