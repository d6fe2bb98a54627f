"""The pix2pix page: upload an image or draw edges, pick a shipped pix2pix checkpoint, translate.

API endpoints (``gradio_client``):
    ``/pix2pix``: ``(image file, checkpoint name) -> result`` (PNG, the input's size).
    ``/pix2pix_sketch``: ``(sketchpad value, checkpoint name) -> (edges the model saw, result)``,
    both the checkpoint's training size; only checkpoints trained on edge drawings (the Sketch
    tab, absent when none is served, lists them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from apps.common import (
    IMAGE_HEIGHT,
    MODEL_CONCURRENCY_ID,
    PageContext,
    check_pixel_count,
    checkpoint_picker,
    example_files,
    held_out_examples,
    input_image,
    output_image,
    publish_image,
    translate_upload,
    user_error,
)
from translate.imageio import pil_to_image_data
from translate.infer import translate_image

PIPELINE = "pix2pix"
TITLE = "pix2pix"

# The drawing canvas; strokes are averaged down to the checkpoint's size, so a brush of radius 3
# (6 px wide) becomes a line 1-2 px wide at 64×64, like the Canny edges the model learned from.
SKETCH_CANVAS = 256
SKETCH_BRUSH_RADIUS = 3
# An output pixel is a line pixel when strokes cover at least this fraction of it: thin strokes
# survive the downscale, stray anti-aliasing does not.
LINE_COVERAGE = 0.25


def sketch_to_edges(sketch: Image.Image, size: int) -> Image.Image:
    """A drawing → an edge image as the edges data sets hold it: black lines on white, ``size``².

    The edges models were trained on binary Canny edges (0 on 255, lines 1 px wide), so the
    drawing is made to look the same: greyscale, light background (inverted if the drawing is
    light on dark), padded to a square with background, area-averaged down to ``size`` and
    thresholded at :data:`LINE_COVERAGE`.

    Args:
        sketch: the drawing, any mode and size, transparency already flattened.
        size: side of the checkpoint's training images.

    Returns:
        Mode ``L`` image ``size × size`` with values 0 (line) and 255 (background).
    """
    grey = np.asarray(sketch.convert("L"), dtype=np.float32) / 255  # [H, W], 1 = white
    if np.median(grey) < 0.5:  # light lines on a dark ground: flip to dark on light
        grey = 1 - grey
    height, width = grey.shape
    side = max(height, width)
    square = np.ones((side, side), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = grey
    # BOX = the mean over each output pixel's footprint: the fraction of it left white.
    small = Image.fromarray(square).resize((size, size), Image.Resampling.BOX)
    coverage = 1 - np.asarray(small)
    return Image.fromarray(np.where(coverage >= LINE_COVERAGE, 0, 255).astype(np.uint8))  # mode L


def takes_edge_drawings(context: PageContext, name: str) -> bool:
    """Whether checkpoint ``name`` translates edge drawings, which the sketchpad makes.

    Told by its bundled held-out inputs: edge images are black lines on white, two grey levels,
    every one of them. A checkpoint without bundled examples is given the benefit of the doubt.
    """
    return all(_is_edge_drawing(path) for path in example_files(context, name))


def _is_edge_drawing(path: Path) -> bool:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    grey = bool((pixels == pixels[..., :1]).all())
    return grey and set(np.unique(pixels).tolist()) <= {0, 255}


class Pix2PixPage:
    """Handlers of the page, bound to the served models and the limits."""

    def __init__(self, context: PageContext) -> None:
        self.context = context
        self.sketch_names = [name for name in context.models.names(PIPELINE) if takes_edge_drawings(context, name)]

    def sketch_size(self, checkpoint: str) -> int:
        """Side of the images ``checkpoint`` was trained on (what a sketch is scaled to)."""
        info = self.context.models.info(checkpoint)
        return int(info.metadata.get("image_size") or info.config.data.image_size)

    def translate(self, image: str | None, checkpoint: str) -> str:
        """Translate an uploaded image at its own size (padded to the network's multiple inside).

        Args:
            image: path of the uploaded file.
            checkpoint: name of a served pix2pix checkpoint.

        Returns:
            Path of the result PNG, same width and height as the upload.
        """
        output = translate_upload(self.context, image, checkpoint)
        return publish_image(output.pixels, f"{Path(image or 'image').stem}-{checkpoint}", alpha=output.alpha)

    def translate_sketch(self, sketch: dict[str, Any] | None, checkpoint: str) -> tuple[str, str]:
        """Turn a drawing into the checkpoint's kind of edge image and translate it.

        Args:
            sketch: the sketchpad's value (``composite`` is the drawing flattened on white).
            checkpoint: name of a served pix2pix checkpoint.

        Returns:
            Paths of (the edge image the model saw, the result) PNGs, both the checkpoint's
            training size.
        """
        drawing = (sketch or {}).get("composite")
        if drawing is None:
            raise user_error("Draw something on the sketchpad first.")
        # Sketches arrive decoded; an API client could still send a huge one.
        check_pixel_count(*drawing.size, self.context.limits.max_pixels)
        edges = sketch_to_edges(drawing, self.sketch_size(checkpoint))
        if np.asarray(edges).min() == 255:
            raise user_error("The sketch is empty: draw some lines first.")
        pipeline = self.context.models.get(checkpoint)
        output = translate_image(pipeline, pil_to_image_data(edges, pipeline.input_channels))
        return (
            publish_image(pil_to_image_data(edges, 1).pixels, "sketch-edges"),
            publish_image(output.pixels, f"sketch-{checkpoint}"),
        )


def build(context: PageContext) -> None:
    """Lay out the page inside the current ``gr.Tab`` and wire its events."""
    page = Pix2PixPage(context)
    names = context.models.names(PIPELINE)
    gr.Markdown(
        "Paired image-to-image translation. Upload an image, or, for a checkpoint trained on edges, "
        "draw on the sketchpad: the drawing is turned into an edge image of the checkpoint's size "
        "(black lines on white), like the edges the model was trained on."
    )
    with gr.Tab("Upload"):
        checkpoint = checkpoint_picker(context, names, "pix2pix")
        with gr.Row():
            upload = input_image(elem_id="pix2pix-input")
            result = output_image(elem_id="pix2pix-result")
        run = gr.Button("Translate", variant="primary", elem_id="pix2pix-run")
        run.click(
            page.translate,
            inputs=[upload, checkpoint],
            outputs=result,
            api_name="pix2pix",
            concurrency_id=MODEL_CONCURRENCY_ID,
        )
        rows = [[str(path), name] for name in names for path in example_files(context, name)]
        if rows:
            held_out_examples(rows, [upload, checkpoint], result, page.translate, "pix2pix", elem_id="pix2pix-examples")
    if not page.sketch_names:
        return
    with gr.Tab("Sketch"):
        sketch_checkpoint = checkpoint_picker(context, page.sketch_names, "pix2pix-sketch")
        with gr.Row():
            sketch = gr.Sketchpad(
                label="Draw edges",
                type="pil",
                image_mode="L",  # flattened on white: the drawing's transparent ground turns white
                canvas_size=(SKETCH_CANVAS, SKETCH_CANVAS),
                fixed_canvas=True,
                brush=gr.Brush(default_size=SKETCH_BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"),
                layers=False,
                elem_id="pix2pix-sketch",
            )
            with gr.Column():
                edges = output_image("What the model sees", height=IMAGE_HEIGHT // 2, elem_id="pix2pix-edges")
                sketch_result = output_image(height=IMAGE_HEIGHT // 2, elem_id="pix2pix-sketch-result")
        draw = gr.Button("Translate sketch", variant="primary", elem_id="pix2pix-run-sketch")
        draw.click(
            page.translate_sketch,
            inputs=[sketch, sketch_checkpoint],
            outputs=[edges, sketch_result],
            api_name="pix2pix_sketch",
            concurrency_id=MODEL_CONCURRENCY_ID,
        )
