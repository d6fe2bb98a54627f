"""The CycleGAN page: upload an image, pick a checkpoint and a direction by its domain names.

API endpoint (``gradio_client``):
    ``/cyclegan``: ``(image file, checkpoint name, direction) -> result`` (PNG, the input's size);
    ``direction`` is ``a2b`` or ``b2a`` (the page labels them with the domain names).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from apps.common import (
    MODEL_CONCURRENCY_ID,
    PageContext,
    checkpoint_picker,
    example_files,
    held_out_examples,
    input_image,
    output_image,
    publish_image,
    translate_upload,
)

PIPELINE = "cyclegan"
TITLE = "CycleGAN"


class CycleGANPage:
    """Handlers of the page, bound to the served models and the limits."""

    def __init__(self, context: PageContext) -> None:
        self.context = context

    def directions(self, checkpoint: str) -> list[tuple[str, str]]:
        """``(label, value)`` radio choices: values stay ``a2b``/``b2a`` so a choice made for one
        checkpoint is valid for every other; labels say the domains (``horse → zebra``)."""
        a, b = self.context.models.info(checkpoint).metadata.get("domains", ["A", "B"])
        return [(f"{a} → {b}", "a2b"), (f"{b} → {a}", "b2a")]

    def translate(self, image: str | None, checkpoint: str, direction: str) -> str:
        """Translate an upload in ``direction`` at its own size.

        Returns:
            Path of the result PNG, same width and height as the upload.
        """
        output = translate_upload(self.context, image, checkpoint, direction=direction)
        stem = f"{Path(image or 'image').stem}-{checkpoint}-{direction}"
        return publish_image(output.pixels, stem, alpha=output.alpha)


def example_rows(context: PageContext, names: list[str]) -> list[list[str]]:
    """``[image, checkpoint, direction]`` rows of the bundled held-out images: domain A's go
    forward, domain B's backward. They sit in ``examples/NAME/A`` and ``B`` (held-out pairs) or in
    a folder per domain, ``examples/NAME/horse`` and ``zebra`` (a model scored by class)."""
    rows = []
    for name in names:
        domain_a, domain_b = context.models.info(name).metadata.get("domains", ["A", "B"])
        for side, domain, value in (("A", domain_a, "a2b"), ("B", domain_b, "b2a")):
            files = example_files(context, name, side) or example_files(context, name, domain)
            rows += [[str(path), name, value] for path in files]
    return rows


def build(context: PageContext) -> None:
    """Lay out the page inside the current ``gr.Tab`` and wire its events."""
    page = CycleGANPage(context)
    names = context.models.names(PIPELINE)
    gr.Markdown("Unpaired translation between two domains, either way round. Upload an image of one domain.")
    checkpoint = checkpoint_picker(context, names, "cyclegan")
    direction = gr.Radio(page.directions(names[0]), value="a2b", label="Direction", elem_id="cyclegan-direction")
    checkpoint.change(
        lambda name: gr.Radio(choices=page.directions(name)),
        inputs=checkpoint,
        outputs=direction,
        api_visibility="private",
        queue=False,
    )
    with gr.Row():
        upload = input_image(elem_id="cyclegan-input")
        result = output_image(elem_id="cyclegan-result")
    run = gr.Button("Translate", variant="primary", elem_id="cyclegan-run")
    run.click(
        page.translate,
        inputs=[upload, checkpoint, direction],
        outputs=result,
        api_name="cyclegan",
        concurrency_id=MODEL_CONCURRENCY_ID,
    )
    rows = example_rows(context, names)
    if rows:
        held_out_examples(rows, [upload, checkpoint, direction], result, page.translate, "cyclegan")
