"""What every demo page shares: limits, the model cache, reading uploads, model-card text.

Pages import from here and from ``translate``'s public API only (``load_pipeline``, the
checkpoint readers, ``translate.infer.translate_image`` and the image helpers of
``translate.imageio``). Nothing in ``translate`` imports ``apps``.
"""

from __future__ import annotations

import html
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from translate import load_pipeline
from translate.checkpoint import CheckpointInfo, read_checkpoint
from translate.imageio import ImageData, ImageReadError, list_images, load_image, save_image
from translate.infer import translate_image
from translate.pipelines import Pipeline

ROOT = Path(__file__).resolve().parents[1]
#: Held-out examples of each shipped checkpoint live in EXAMPLES_ROOT/NAME/A (see `make demo`).
EXAMPLES_ROOT = ROOT / "examples"
#: Every model-running event joins this concurrency group, so the limit bounds the CPU work of
#: the whole app, not of each button separately.
MODEL_CONCURRENCY_ID = "model"


def user_error(message: str, title: str = "Error") -> gr.Error:
    """An error caused by the request, shown to its user; not a server fault, so no traceback is logged."""
    return gr.Error(message, title=title, print_exception=False)


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server.

    Attributes:
        max_file_size: largest upload, enforced by gradio before the file reaches a handler
            (``launch(max_file_size=...)``): "10mb", "500kb"...
        max_pixels: largest image (width × height), checked by us on the file header before
            any pixel is decoded, so a small file that decodes to a huge image is refused cheaply.
        concurrency: model calls running at once, across all pages (the rest wait in the queue).
        queue_size: requests that may wait; more are turned away with "queue full".
    """

    max_file_size: str = "10mb"
    max_pixels: int = 1024 * 1024
    concurrency: int = 2
    queue_size: int = 64


class ModelCache:
    """The served checkpoints: configs read at start-up, weights loaded once on first use.

    Thread-safe: the queue runs handlers in worker threads, and two first requests for the
    same checkpoint must not load it twice.
    """

    def __init__(self, checkpoints: dict[str, Path]) -> None:
        """
        Args:
            checkpoints: name → checkpoint folder (e.g. ``shipped_checkpoints()``).

        Raises:
            CheckpointError: a config.json is missing or damaged (the message names it).
        """
        self.infos: dict[str, CheckpointInfo] = {name: read_checkpoint(path) for name, path in checkpoints.items()}
        self._pipelines: dict[str, Pipeline] = {}
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in self.infos}

    def names(self, pipeline: str) -> list[str]:
        """Served checkpoints of one pipeline (``pix2pix``, ``cyclegan``...), sorted."""
        return sorted(name for name, info in self.infos.items() if info.pipeline == pipeline)

    def info(self, name: str) -> CheckpointInfo:
        """The parsed config.json of a served checkpoint.

        Raises:
            gr.Error: not a served checkpoint; the message lists the served ones.
        """
        if name not in self.infos:
            served = ", ".join(sorted(self.infos)) or "none"
            # Escaped: gradio renders error messages as HTML.
            raise user_error(f"unknown checkpoint {html.escape(repr(name), quote=False)}; choose one of: {served}")
        return self.infos[name]

    def get(self, name: str) -> Pipeline:
        """The loaded pipeline of checkpoint ``name`` (loaded on the first call only)."""
        info = self.info(name)
        with self._locks[name]:
            if name not in self._pipelines:
                self._pipelines[name] = load_pipeline(info.path)
            return self._pipelines[name]

    def loaded(self) -> list[str]:
        """Names whose weights are in memory."""
        return sorted(self._pipelines)


@dataclass(frozen=True)
class PageContext:
    """What the app hands each page's ``build``: the served models, the limits, the examples."""

    models: ModelCache
    limits: Limits = field(default_factory=Limits)
    examples_root: Path = EXAMPLES_ROOT


def check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image larger than ``max_pixels`` with a message a user can act on.

    Raises:
        gr.Error: too many pixels; says the size found and the largest square accepted.
    """
    if width * height > max_pixels:
        side = int(max_pixels**0.5)
        raise user_error(
            f"The image is {width}×{height} = {width * height:,} pixels; this page accepts at most "
            f"{max_pixels:,} pixels (about {side}×{side}). Downscale it and try again.",
            title="Image too large",
        )


def read_upload(path: str | None, channels: int, max_pixels: int) -> ImageData:
    """Decode an uploaded image file with translate's channel policy, after the size checks.

    Gradio hands over the file unread (``gr.Image(type="filepath")``): the header is read
    first, so an oversized image is refused before its pixels are decoded.

    Args:
        path: the uploaded file gradio saved, or None when nothing was uploaded.
        channels: the pipeline's input channels (1, 3 or 4).
        max_pixels: the largest width × height accepted.

    Returns:
        The image; pixels float32 ``[channels, H, W]`` in [0, 1].

    Raises:
        gr.Error: nothing uploaded, too many pixels, or not a readable image.
    """
    if not path:
        raise user_error("Upload an image first.")
    try:
        with Image.open(path) as header:  # reads the header only
            width, height = header.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise user_error("The upload is not an image file this demo reads (PNG, JPEG, WebP, BMP, TIFF...).") from None
    check_pixel_count(width, height, max_pixels)
    try:
        return load_image(path, channels=channels, max_pixels=max_pixels)
    except ImageReadError as error:
        # The temporary path gradio chose means nothing to the user.
        reason = str(error).removeprefix(f"{path}: ")
        raise user_error(f"Cannot read the uploaded image: {html.escape(reason, quote=False)}") from None


def run_pipeline(pipeline: Pipeline, image: ImageData, **options: Any) -> ImageData:
    """:func:`translate.infer.translate_image`, with a refused option shown to the user.

    Raises:
        gr.Error: an option the pipeline refuses (its message names the valid choices).
    """
    try:
        return translate_image(pipeline, image, **options)
    except ValueError as error:  # pipelines raise ValueError for options and classes they do not know
        raise user_error(html.escape(str(error), quote=False)) from None


def translate_upload(context: PageContext, path: str | None, checkpoint: str, **options: Any) -> ImageData:
    """Load checkpoint ``checkpoint`` (cached), read the upload and run the pipeline on it.

    Args:
        context: the page's context (models and limits).
        path: the uploaded file.
        checkpoint: a served checkpoint's name.
        options: the pipeline's inference options (``direction``, ``class_name``...).

    Returns:
        The result with the input's alpha (resized) when it had one.

    Raises:
        gr.Error: a bad upload or a refused option.
    """
    pipeline = context.models.get(checkpoint)
    image = read_upload(path, pipeline.input_channels, context.limits.max_pixels)
    return run_pipeline(pipeline, image, **options)


def publish_image(pixels: Tensor, name: str, alpha: Tensor | None = None) -> str:
    """Write an 8-bit PNG where gradio serves files from, and return its path for an output.

    Why not return a PIL image: gradio files those under a hash of their bytes and rewrites the
    file in place, so two requests with the same result race and one download can read a
    truncated file. Here each result gets a fresh folder inside gradio's upload folder (served
    as it is, not copied) and is written atomically.

    Args:
        pixels: ``[C, H, W]`` in [0, 1], C in {1, 3, 4}.
        name: file name stem shown on download (characters outside ``[A-Za-z0-9._-]`` replaced).
        alpha: ``[1, H, W]`` alpha to attach, e.g. the input's.

    Returns:
        The PNG's path.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "result"
    path = Path(get_upload_folder()) / "translate-results" / uuid.uuid4().hex / f"{stem[:100]}.png"
    save_image(pixels, path, bit_depth=8, alpha=alpha)
    return str(path)


def _markdown_sections(text: str) -> dict[str, str]:
    """``## Heading`` → body, for a model card; what comes before the first heading is under ``""``."""
    head, *rest = re.split(r"^## +", text, flags=re.MULTILINE)
    sections = {"": head.strip()}
    for block in rest:
        title, _, body = block.partition("\n")
        sections[title.strip()] = body.strip()
    return sections


def model_card_markdown(info: CheckpointInfo) -> str:
    """Short text on what a checkpoint was trained on, from its model card (README.md).

    Keeps the card's title and summary and its "Below the shipping bar", "Data" and "Limits"
    sections; images, commands and tables stay in the full card. Falls back to config.json's
    description.
    """
    name = info.path.name
    description = str(info.raw.get("description", "")).strip()
    card = info.path / "README.md"
    if not card.is_file():
        return f"**{name}**: {description or 'no model card'}"
    sections = _markdown_sections(card.read_text(encoding="utf-8"))
    # The intro is "# name", the summary line, then a samples image and its caption.
    summary = [
        line.strip()
        for line in sections[""].splitlines()
        if line.strip() and not line.startswith(("#", "![", "*"))
    ]
    parts = [f"**{name}**: " + (" ".join(summary) or description)]
    for title in ("Below the shipping bar", "Data", "Limits"):
        body = sections.get(title)
        if body:
            # Commands belong to the full card, not the demo page.
            body = re.sub(r"```.*?```", "", body, flags=re.DOTALL).strip()
            parts.append(f"**{title}.** {body}")
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------- page parts
# Images are shown at this height; small ones (64×64) enlarged with hard pixel edges (app CSS).
IMAGE_HEIGHT = 288


def input_image(label: str = "Input image", **options: Any) -> gr.Image:
    """An upload box handing the file over undecoded, so :func:`read_upload` checks it first."""
    return gr.Image(
        label=label,
        type="filepath",
        image_mode=None,  # any other mode makes gradio decode and convert the file itself
        sources=["upload", "clipboard"],
        height=IMAGE_HEIGHT,
        elem_classes="translate-image",
        **options,
    )


def output_image(label: str = "Result", **options: Any) -> gr.Image:
    """A result box showing a lossless PNG (gradio's default WebP is lossy)."""
    options.setdefault("height", IMAGE_HEIGHT)
    return gr.Image(
        label=label,
        type="filepath",
        format="png",
        interactive=False,
        buttons=["download", "fullscreen"],
        elem_classes="translate-image",
        **options,
    )


def checkpoint_picker(context: PageContext, names: list[str], prefix: str) -> gr.Dropdown:
    """A dropdown of ``names`` with the chosen checkpoint's model-card text under it, kept in step.

    Element ids: ``{prefix}-checkpoint`` and ``{prefix}-card``.
    """
    dropdown = gr.Dropdown(names, value=names[0], label="Checkpoint", elem_id=f"{prefix}-checkpoint")
    card = gr.Markdown(model_card_markdown(context.models.info(names[0])), elem_id=f"{prefix}-card")
    dropdown.change(
        lambda name: model_card_markdown(context.models.info(name)),
        inputs=dropdown,
        outputs=card,
        api_visibility="private",
        queue=False,
    )
    return dropdown


def held_out_examples(rows: list[list[Any]], inputs: list[Any], outputs: Any, fn: Any, name: str, **options: Any) -> gr.Examples:
    """The page's cached gallery of held-out examples (computed once at start-up, private endpoint ``NAME_example``)."""
    return gr.Examples(
        rows,
        inputs=inputs,
        outputs=outputs,
        fn=fn,
        cache_examples=True,
        cache_mode="eager",
        examples_per_page=8,
        label="Held-out examples (never trained on)",
        api_name=f"{name}_example",
        api_visibility="private",
        **options,
    )


def example_files(context: PageContext, name: str, side: str = "A") -> list[Path]:
    """Bundled held-out inputs of checkpoint ``name``: ``EXAMPLES/NAME/SIDE/*`` (none if absent)."""
    folder = context.examples_root / name / side
    return list_images(folder, recursive=False) if folder.is_dir() else []
