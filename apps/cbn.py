"""The class-conditional page: translate an upload into a class (or a blend of two), or generate.

API endpoints (``gradio_client``):
    ``/cbn``: ``(image file, checkpoint, class, second class, blend) -> result`` (PNG, the input's
    size); ``blend`` in [0, 1] moves from the first class (0) to the second (1). The first class
    may also be a full blend such as ``"cat:0.5,dog:0.5"`` (with ``blend`` 0).
    ``/cbn_generate``: ``(checkpoint, class, seed, truncation, count) -> gallery`` of ``count``
    images of the checkpoint's size; ``truncation`` 0 samples the full normal distribution.
"""

from __future__ import annotations

import html
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
    user_error,
)

PIPELINE = "cbn"
TITLE = "Class-conditional"
MAX_SAMPLES = 16


def blend_spec(first: str, second: str | None, blend: float) -> str:
    """The pipeline's class request: ``"cat"``, or ``"cat:0.7,dog:0.3"`` for ``blend`` 0.3 towards dog."""
    if not 0 <= blend <= 1:
        raise user_error(f"blend must be between 0 and 1, got {blend:g}")
    if not second or second == first or blend == 0:
        return first
    if blend == 1:
        return second
    return f"{first}:{1 - blend:g},{second}:{blend:g}"


class ClassConditionalPage:
    """Handlers of the page, bound to the served models and the limits."""

    def __init__(self, context: PageContext) -> None:
        self.context = context

    def names(self, mode: str) -> list[str]:
        """Served cbn checkpoints of one mode (``translation`` or ``generation``)."""
        models = self.context.models
        return [name for name in models.names(PIPELINE) if models.info(name).metadata.get("mode") == mode]

    def classes(self, checkpoint: str) -> list[str]:
        return list(self.context.models.info(checkpoint).metadata.get("class_names", []))

    def class_choices(self, checkpoint: str) -> tuple[gr.Dropdown, gr.Dropdown]:
        """Both class pickers updated for another checkpoint."""
        classes = self.classes(checkpoint)
        return (
            gr.Dropdown(choices=classes, value=classes[0]),
            gr.Dropdown(choices=classes, value=classes[min(1, len(classes) - 1)]),
        )

    def translate(self, image: str | None, checkpoint: str, first: str, second: str | None, blend: float) -> str:
        """Translate an upload into a class or a blend of two, at the upload's size.

        Returns:
            Path of the result PNG.
        """
        spec = blend_spec(first, second, float(blend))
        output = translate_upload(self.context, image, checkpoint, class_name=spec)
        return publish_image(output.pixels, f"{Path(image or 'image').stem}-{spec}", alpha=output.alpha)

    def generate(self, checkpoint: str, class_name: str, seed: float, truncation: float, count: float) -> list[str]:
        """``count`` images of a class from noise; the same seed gives the same images.

        Returns:
            Paths of the PNGs, each the checkpoint's image size.
        """
        if not 1 <= int(count) <= MAX_SAMPLES:
            raise user_error(f"count must be between 1 and {MAX_SAMPLES}, got {count:g}")
        pipeline = self.context.models.get(checkpoint)
        try:
            images = pipeline.sample(class_name, int(count), seed=int(seed), truncation=float(truncation) or None)
        except ValueError as error:  # unknown class, bad truncation: the message names the choices
            raise user_error(html.escape(str(error), quote=False)) from None
        return [publish_image(image, f"{class_name}-seed{int(seed) + index}") for index, image in enumerate(images)]


def build(context: PageContext) -> None:
    """Lay out the page inside the current ``gr.Tab`` and wire its events."""
    page = ClassConditionalPage(context)
    translation, generation = page.names("translation"), page.names("generation")
    gr.Markdown(
        "One generator, many classes: translate an image into a class (or between two), "
        "or draw new images of a class."
    )
    if translation:
        with gr.Tab("Translate"):
            checkpoint = checkpoint_picker(context, translation, "cbn")
            classes = page.classes(translation[0])
            with gr.Row():
                # Custom values allowed: the choices change with the checkpoint, and the
                # pipeline checks the class itself (its message lists the valid ones).
                first = gr.Dropdown(
                    classes, value=classes[0], label="Class", allow_custom_value=True, elem_id="cbn-class"
                )
                second = gr.Dropdown(
                    classes, value=classes[min(1, len(classes) - 1)], label="Blend towards",
                    allow_custom_value=True, elem_id="cbn-class-b",
                )
                blend = gr.Slider(0, 1, value=0, step=0.05, label="Blend", elem_id="cbn-blend")
            checkpoint.change(
                page.class_choices, inputs=checkpoint, outputs=[first, second], api_visibility="private", queue=False
            )
            with gr.Row():
                upload = input_image(elem_id="cbn-input")
                result = output_image(elem_id="cbn-result")
            run = gr.Button("Translate", variant="primary", elem_id="cbn-run")
            inputs = [upload, checkpoint, first, second, blend]
            run.click(
                page.translate, inputs=inputs, outputs=result, api_name="cbn", concurrency_id=MODEL_CONCURRENCY_ID
            )
            # Bundled held-out images sit in a folder per class (examples/NAME/CLASS/); each is
            # redrawn in the next class.
            rows = [
                [str(path), name, classes[(index + 1) % len(classes)], source, 0.0]
                for name in translation
                for classes in [page.classes(name)]
                for index, source in enumerate(classes)
                for path in example_files(context, name, side=source)
            ]
            if rows:
                held_out_examples(rows, inputs, result, page.translate, "cbn")
    if generation:
        with gr.Tab("Generate"):
            checkpoint = checkpoint_picker(context, generation, "cbn-generate")
            classes = page.classes(generation[0])
            with gr.Row():
                class_name = gr.Dropdown(
                    classes, value=classes[0], label="Class (or a blend: a:0.5,b:0.5)", allow_custom_value=True,
                    elem_id="cbn-generate-class",
                )
                seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="cbn-seed")
                truncation = gr.Slider(0, 2, value=0, step=0.05, label="Truncation (0 = off)", elem_id="cbn-truncation")
                count = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="Images", elem_id="cbn-count")
            checkpoint.change(
                lambda name: gr.Dropdown(choices=page.classes(name), value=page.classes(name)[0]),
                inputs=checkpoint, outputs=class_name, api_visibility="private", queue=False,
            )
            gallery = gr.Gallery(label="Samples", format="png", columns=8, height="auto", elem_id="cbn-gallery")
            run = gr.Button("Generate", variant="primary", elem_id="cbn-generate-run")
            inputs = [checkpoint, class_name, seed, truncation, count]
            run.click(
                page.generate,
                inputs=inputs,
                outputs=gallery,
                api_name="cbn_generate",
                concurrency_id=MODEL_CONCURRENCY_ID,
            )
            gr.Examples(
                [[name, label, 0, 0.0, 8] for name in generation for label in page.classes(name)[:4]],
                inputs=inputs, outputs=gallery, fn=page.generate, cache_examples=True, cache_mode="eager",
                label="Examples", api_name="cbn_generate_example", api_visibility="private",
            )
