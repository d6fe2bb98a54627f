"""Inference on image files: load with the channel policy, run the pipeline, save atomically."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.nn import functional as F

from translate.imageio import ImageData, ImageReadError, list_images, load_image, save_image
from translate.pipelines import Pipeline

OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "bmp": ".bmp", "tif": ".tif", "tiff": ".tif"}


class ConvertError(ValueError):
    """The conversion cannot start (no input, output inside input...); nothing was written."""


@dataclass
class ConvertSummary:
    converted: int = 0
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.converted / self.seconds if self.seconds > 0 else 0.0


def translate_image(pipeline: Pipeline, image: ImageData, **options: Any) -> ImageData:
    """Run ``pipeline`` on one loaded image; alpha is resized and reattached, 16-bit kept for grey.

    Args:
        pipeline: a loaded pipeline (see :func:`translate.load_pipeline`).
        image: from :func:`translate.imageio.load_image` with ``channels=pipeline.input_channels``.
        options: pipeline options (``tile``, ``direction``...).
    """
    output = pipeline(image.pixels, **options)
    alpha = image.alpha
    if alpha is not None and alpha.shape[-2:] != output.shape[-2:]:
        alpha = F.interpolate(alpha[None], size=output.shape[-2:], mode="bicubic", antialias=True)[0].clamp(0, 1)
    bit_depth = image.bit_depth if output.shape[0] == 1 else 8
    return ImageData(pixels=output.cpu(), alpha=alpha, bit_depth=bit_depth, source_mode=image.source_mode, path=None)


def plan_outputs(source: Path, destination: Path, output_format: str | None) -> list[tuple[Path, Path]]:
    """Pairs (input file, output file). A folder is walked recursively and its tree mirrored.

    The output keeps the input's relative path and stem; its suffix is ``output_format``'s, or
    the input's own when None.
    """
    if output_format is not None and output_format.lower() not in OUTPUT_FORMATS:
        raise ConvertError(f"unknown format {output_format!r}; choose one of: png, jpg, webp, bmp, tif")

    def target(relative: Path) -> Path:
        suffix = OUTPUT_FORMATS[output_format.lower()] if output_format else relative.suffix.lower()
        return destination / relative.with_suffix(suffix)

    if source.is_file():
        if destination.suffix and not destination.is_dir():
            return [(source, destination)]
        return [(source, target(Path(source.name)))]
    if not source.is_dir():
        raise ConvertError(f"{source}: no such file or folder")
    resolved_destination = destination.resolve()
    if resolved_destination == source.resolve():
        raise ConvertError(f"{destination}: the output folder must differ from the input folder")
    files = [p for p in list_images(source) if resolved_destination not in p.resolve().parents]
    if not files:
        raise ConvertError(f"{source}: no images found (looked for {', '.join(sorted({'.png', '.jpg', '.webp'}))}...)")
    return [(p, target(p.relative_to(source))) for p in files]


def convert_files(
    pipeline: Pipeline,
    plan: list[tuple[Path, Path]],
    overwrite: bool = True,
    options: dict[str, Any] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ConvertSummary:
    """Convert every planned file; a file that fails is reported and the rest go on.

    Every output is written to a temporary name and renamed, so no partial file is ever left.
    """
    summary = ConvertSummary()
    started = time.monotonic()
    for source, output in plan:
        if output.exists() and not overwrite:
            summary.skipped += 1
        else:
            try:
                image = load_image(source, channels=pipeline.input_channels)
                result = translate_image(pipeline, image, **(options or {}))
                save_image(result.pixels, output, bit_depth=result.bit_depth, alpha=result.alpha)
                summary.converted += 1
            except (ImageReadError, OSError, ValueError, RuntimeError) as error:
                reason = str(error) if str(source) in str(error) else f"{source}: {error}"
                print(f"error: {reason}", file=sys.stderr)
                summary.failed.append((source, str(error)))
        if on_progress is not None:
            on_progress(1)
    summary.seconds = time.monotonic() - started
    return summary
