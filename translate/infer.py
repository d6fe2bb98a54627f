"""Inference on image files: plan the outputs, decode and encode in threads, batch, never lose work.

:func:`plan_outputs` maps inputs (a file, a folder walked recursively, or a glob) to outputs that
keep each input's relative path and stem, resolving name collisions by :data:`COLLISION_RULE`.
:func:`convert_files` runs a plan: worker threads decode ahead and encode behind while the
calling thread runs the network on batches of same-size images; every output is written to a
temporary name and renamed, and outputs that already exist are skipped, so an interrupted run
resumes where it stopped. A file that cannot be converted is reported and the others go on.
"""

from __future__ import annotations

import glob
import json
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from torch import Tensor
from torch.nn import functional as F

from translate.checkpoint import WEIGHTS_FILE, CheckpointInfo
from translate.imageio import (
    LUMA_WEIGHTS,
    ImageData,
    atomic_write,
    file_sha256,
    is_greyscale_mode,
    is_image_file,
    list_images,
    load_image,
    remove_stale_temporaries,
    save_image,
    to_8bit_levels,
)
from translate.pipelines import Pipeline, get_pipeline_class

OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "bmp": ".bmp", "tif": ".tif", "tiff": ".tif"}

COLLISION_RULE = (
    "Two inputs that would map to one output (a.png and a.jpg with --format png; A.png and a.png, "
    "compared case-insensitively) are both kept: the input whose own name is the output name keeps "
    "it (else the first in sorted order), each other one gets its full file name plus the output "
    "suffix (a.jpg -> a.jpg.png; ~2, ~3... if that is taken too). The rule depends only on the set "
    "of input names, so every run maps each input to the same output and resume works."
)

#: ``--precision auto`` keeps bf16 only while its outputs are at least this close to fp32's.
MIN_PSNR_DB = 40.0

# Decoded pixels held ahead of the network (decode-ahead queue plus images waiting for a batch
# partner): 32 Mpx is about 400 MB of float32 RGB. Small images get a deep queue, big photos one.
_PREFETCH_PIXELS = 32 * 1024 * 1024


class ConvertError(ValueError):
    """The conversion cannot start (no input, bad option, output inside input...); nothing was written."""


@dataclass
class ConvertSummary:
    """What a run did; ``failed`` holds ``(input, reason)`` pairs."""

    converted: int = 0
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.converted / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def combine(cls, summaries: list[ConvertSummary]) -> ConvertSummary:
        """The summary of ranks that ran side by side (their wall time is the slowest one's)."""
        return cls(
            converted=sum(s.converted for s in summaries),
            skipped=sum(s.skipped for s in summaries),
            failed=[failure for s in summaries for failure in s.failed],
            seconds=max((s.seconds for s in summaries), default=0.0),
        )

    def line(self) -> str:
        return (
            f"converted {self.converted}, skipped {self.skipped}, failed {len(self.failed)} "
            f"in {self.seconds:.1f} s ({self.images_per_second:.2f} images/s)"
        )


@dataclass(frozen=True)
class ConvertSettings:
    """How :func:`convert_files` runs.

    Attributes:
        batch_size: same-size images run through the network together.
        workers: threads that decode and encode while the network runs.
        tile: process every image in tiles of this side (bounded memory); None = whole images.
        tile_overlap: pixels shared by neighbouring tiles, blended.
        max_pixels: images with more pixels than this are processed in tiles (of the largest
            side whose square fits), others whole; None = no limit.
        image_pixel_limit: files whose header declares more pixels are refused as decompression
            bombs before decoding; None = Pillow's ``Image.MAX_IMAGE_PIXELS``.
        overwrite: replace existing outputs instead of skipping them (resume).
        quality: JPEG/WebP quality.
        check_precision: compare the first batch with fp32 and fall back to fp32 when the
            pipeline's reduced precision is below :data:`MIN_PSNR_DB` (``--precision auto``).
    """

    batch_size: int = 1
    workers: int = 2
    tile: int | None = None
    tile_overlap: int = 32
    max_pixels: int | None = None
    image_pixel_limit: int | None = None
    overwrite: bool = False
    quality: int = 95
    check_precision: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "workers"):
            if getattr(self, name) < 1:
                raise ConvertError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("tile", "max_pixels", "image_pixel_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConvertError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.tile_overlap < 0:
            raise ConvertError(f"--tile-overlap must be at least 0, got {self.tile_overlap}")


# ---------------------------------------------------------------------------------- one image
def attach_source_extras(image: ImageData, output: Tensor, keep_kind: bool = False) -> ImageData:
    """Give a network output what the input file had beside its pixels: alpha and bit depth,
    and, for a pipeline that returns the same picture (super-resolution), its greyscale.

    Alpha is resized (bicubic) when the output is larger (super-resolution); the 16-bit depth
    of the source is kept (the savers write it for PNG and TIFF). With ``keep_kind``, a colour
    output of a greyscale source is turned back into grey (ITU-R 601 luma): a colour network
    sees a grey photo as three equal channels, and a grey photo should come back grey.

    Shape:
        output: ``[C_out, H_out, W_out]`` in [0, 1].
    """
    alpha = image.alpha
    if alpha is not None and alpha.shape[-2:] != output.shape[-2:]:
        alpha = F.interpolate(alpha[None], size=output.shape[-2:], mode="bicubic", antialias=True)[0].clamp(0, 1)
    if keep_kind and output.shape[0] == 3 and is_greyscale_mode(image.source_mode):
        output = (output * output.new_tensor(LUMA_WEIGHTS)[:, None, None]).sum(0, keepdim=True).clamp(0, 1)
    return ImageData(pixels=output.cpu(), alpha=alpha, bit_depth=image.bit_depth, source_mode=image.source_mode, path=None)


def translate_image(pipeline: Pipeline, image: ImageData, **options: Any) -> ImageData:
    """Run ``pipeline`` on one loaded image; alpha is resized and reattached, 16-bit depth kept
    (and greyscale, for a pipeline that keeps the image's kind: see :func:`attach_source_extras`).

    Args:
        pipeline: a loaded pipeline (see :func:`translate.load_pipeline`).
        image: from :func:`translate.imageio.load_image` with ``channels=pipeline.input_channels``.
        options: pipeline options (``tile``, ``direction``...).
    """
    return attach_source_extras(image, pipeline(image.pixels, **options), pipeline.keeps_image_kind)


def check_pipeline_options(pipeline: Pipeline, options: dict[str, Any]) -> None:
    """Run the pipeline once on a small blank image, so bad options stop a run before any file.

    The pipeline validates its own options (names and values); this only makes it do so early.

    Raises:
        ConvertError: the pipeline refused the options; its message lists the valid ones.
    """
    multiple = max(1, pipeline.size_multiple)
    # 32 px at least: a ResNet's instance norms need more than one pixel after its downsamplings.
    side = math.ceil(32 / multiple) * multiple
    blank = torch.zeros(1, pipeline.input_channels, side, side)
    try:
        pipeline(blank, **options)
    except ValueError as error:
        raise ConvertError(str(error)) from None


def psnr_against_fp32(pipeline: Pipeline, images: Tensor, outputs: Tensor | None = None, **kwargs: Any) -> Tensor:
    """Per-image PSNR (dB) of the pipeline's outputs in its precision against its fp32 outputs.

    Both are rounded to 8-bit levels first: that is what the files hold. The pipeline is back in
    its own precision afterwards.

    Args:
        pipeline: a loaded pipeline, usually in bf16.
        images: ``[N, C, H, W]`` in [0, 1].
        outputs: the pipeline's outputs for ``images`` when already computed.
        kwargs: the pipeline's call options (``tile``, ``direction``...).

    Returns:
        ``[N]`` float64; ``inf`` for identical outputs.
    """
    from translate.metrics import psnr

    if outputs is None:
        outputs = pipeline(images, **kwargs)
    precision = pipeline.precision
    pipeline.configure_runtime(pipeline.device, "fp32", pipeline.channels_last)
    try:
        reference = pipeline(images, **kwargs)
    finally:
        pipeline.configure_runtime(pipeline.device, precision, pipeline.channels_last)
    return psnr(to_8bit_levels(outputs.cpu()), to_8bit_levels(reference.cpu()))


# ---------------------------------------------------------------------------------- planning
def _output_suffix(relative: Path, output_format: str | None) -> str:
    return OUTPUT_FORMATS[output_format.lower()] if output_format else relative.suffix.lower()


def assign_output_names(relatives: list[Path], output_format: str | None) -> dict[Path, Path]:
    """Output path (relative) of each input path (relative), following :data:`COLLISION_RULE`.

    Args:
        relatives: input paths relative to the input root.
        output_format: output format name, or None to keep each input's own suffix.

    Returns:
        ``{input: output}``, outputs unique even on case-insensitive file systems.
    """
    plain = {relative: relative.with_suffix(_output_suffix(relative, output_format)) for relative in relatives}
    groups: dict[str, list[Path]] = {}
    for relative, target in plain.items():
        groups.setdefault(str(target).casefold(), []).append(relative)
    # Renamed outputs must not take a name another input keeps.
    taken = set(groups)
    names: dict[Path, Path] = {}
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda p: (p.name != plain[p].name, str(p)))
        names[members[0]] = plain[members[0]]
        for relative in members[1:]:
            suffix = plain[relative].suffix
            candidate = relative.with_name(relative.name + suffix)
            copy = 2
            while str(candidate).casefold() in taken:
                candidate = relative.with_name(f"{relative.name}~{copy}{suffix}")
                copy += 1
            taken.add(str(candidate).casefold())
            names[relative] = candidate
    return names


def _glob_root(pattern: str) -> Path:
    """The folder a glob's matches are made relative to: its path up to the first wildcard."""
    parts = Path(pattern).parts
    first_wildcard = next(index for index, part in enumerate(parts) if glob.has_magic(part))
    return Path(*parts[:first_wildcard]) if first_wildcard else Path(".")


def plan_outputs(source: str | Path, destination: Path, output_format: str | None = None) -> list[tuple[Path, Path]]:
    """Pairs (input file, output file), in a stable order.

    Args:
        source: an image file; a folder (walked recursively, its tree mirrored); or a glob
            (``photos/**/*.jpg``: paths are mirrored from the part before the first wildcard).
        destination: output folder, or output file when ``source`` is a file and this has a suffix.
        output_format: ``png``, ``jpg``, ``webp``, ``bmp``, ``tif``; None keeps each input's suffix.

    Returns:
        The plan: each output keeps its input's relative path and stem; collisions follow
        :data:`COLLISION_RULE`.

    Raises:
        ConvertError: unknown format, no such input, no images, or the output folder is the input folder.
    """
    if output_format is not None and output_format.lower() not in OUTPUT_FORMATS:
        raise ConvertError(f"unknown format {output_format!r}; choose one of: png, jpg, webp, bmp, tif")
    source_path = Path(source)
    if source_path.is_file():
        if destination.suffix and not destination.is_dir():
            _check_output_folder(destination.parent)
            output = destination
        else:
            _check_output_folder(destination)
            relative = Path(source_path.name)
            output = destination / assign_output_names([relative], output_format)[relative]
        if output.resolve() == source_path.resolve():
            raise ConvertError(f"{output}: the output would replace its own input; choose another output path")
        return [(source_path, output)]
    _check_output_folder(destination)
    resolved_destination = destination.resolve()
    if source_path.is_dir():
        root, files = source_path, list_images(source_path)
    elif glob.has_magic(str(source)):
        root = _glob_root(str(source))
        files = sorted(
            Path(p) for p in glob.glob(str(source), recursive=True) if Path(p).is_file() and is_image_file(p)
        )
        if not files:
            raise ConvertError(f"{source}: no image files match")
    else:
        raise ConvertError(f"{source}: no such file or folder")
    if resolved_destination == root.resolve():
        raise ConvertError(f"{destination}: the output folder must differ from the input folder")
    if root.resolve() in resolved_destination.parents:
        # An output folder inside the input folder must not feed last run's outputs back in.
        files = [p for p in files if resolved_destination not in p.resolve().parents]
    if not files:
        raise ConvertError(f"{source}: no images found (looked for .png, .jpg, .webp, .tif, .bmp...)")
    relatives = [p.relative_to(root) for p in files]
    names = assign_output_names(relatives, output_format)
    return [(path, destination / names[relative]) for path, relative in zip(files, relatives)]


def _check_output_folder(folder: Path) -> None:
    """A clear error now, not one per image later, when the folder (or a folder above it) is a file."""
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConvertError(f"{existing}: exists and is not a folder; give an output folder")


# What made an output folder's files: a second conversion into the folder with another checkpoint
# or other options would otherwise skip the existing files (they look like a finished resume).
CONVERSION_RECORD = ".translate-convert.json"


def conversion_record(checkpoint: CheckpointInfo, options: dict[str, Any]) -> dict[str, Any]:
    """What decides the outputs' content: the checkpoint folder, its weights (retraining into the
    same folder changes them) and the pipeline's options, each spelling of one choice written
    alike (:meth:`Pipeline.canonical_options`)."""
    canonical = get_pipeline_class(checkpoint.pipeline).canonical_options(checkpoint.config, options)
    return {
        "checkpoint": str(checkpoint.path.resolve()),
        "weights_sha256": file_sha256(checkpoint.path / WEIGHTS_FILE),
        "options": {key: str(value) for key, value in sorted(canonical.items())},
    }


def _record_path(destination: Path, plan: list[tuple[Path, Path]]) -> Path | None:
    """Where the output folder's record lives; None when the plan writes one named file."""
    return None if len(plan) == 1 and plan[0][1] == destination else destination / CONVERSION_RECORD


def check_resume(
    destination: Path, plan: list[tuple[Path, Path]], record: dict[str, Any], overwrite: bool
) -> dict[str, Any] | None:
    """Refuse to add to a folder that another checkpoint or other options filled.

    Its existing outputs would be skipped as if this run had made them, and a folder of mixed
    origin could not be resumed safely later; only ``overwrite`` says the user means it.

    Args:
        destination: the output folder (a single output file has no record).
        plan: the run's (input, output) pairs, to say how many outputs exist already.
        record: :func:`conversion_record` of this run.
        overwrite: existing outputs are replaced.

    Returns:
        The folder's record, None when it has none; an empty dict for an unreadable one that
        ``overwrite`` lets this run replace (after a complete run, like another conversion's).

    Raises:
        ConvertError: the folder's record names another conversion, or cannot be read, and
            ``overwrite`` is off.
    """
    path = _record_path(destination, plan)
    if path is None or not path.is_file():
        return None
    try:
        earlier = json.loads(path.read_text())
        if not isinstance(earlier, dict):
            raise ValueError(f"a JSON {type(earlier).__name__}, not an object")
    except (OSError, ValueError) as error:
        if overwrite:
            return {}
        existing = sum(output.exists() for _, output in plan)
        raise ConvertError(
            f"{path}: cannot read this folder's record of what made its files ({error}); "
            f"{existing} of this run's {len(plan)} outputs exist already and may come from another conversion. "
            "Pass --overwrite to convert every file again, or choose another output folder"
        ) from error
    if earlier == record or overwrite:
        return earlier

    def describe(entry: dict[str, Any]) -> str:
        options = ", ".join(f"{k}={v}" for k, v in entry.get("options", {}).items()) or "no options"
        return f"{entry.get('checkpoint')} (weights {str(entry.get('weights_sha256'))[:12]}; {options})"

    existing = sum(output.exists() for _, output in plan)
    raise ConvertError(
        f"{destination}: holds the outputs of {describe(earlier)}, not of {describe(record)}; "
        f"{existing} of this run's {len(plan)} outputs exist already. Pass --overwrite to convert into it anyway, "
        "or choose another output folder"
    )


def write_conversion_record(destination: Path, plan: list[tuple[Path, Path]], record: dict[str, Any]) -> None:
    """Note in the output folder what its files are made by (see :func:`check_resume`).

    Written before converting into a folder without a record (whatever the run leaves is its
    own), and after a complete run that replaced another conversion's outputs (until then the
    folder still holds some of the other's files).
    """
    path = _record_path(destination, plan)
    if path is not None:
        with atomic_write(path) as temporary:
            temporary.write_text(json.dumps(record, indent=2) + "\n")


def shard_plan(plan: list[tuple[Path, Path]], rank: int, world_size: int) -> list[tuple[Path, Path]]:
    """This rank's share of a plan (every ``world_size``-th file), for ``torchrun``."""
    return plan[rank::world_size]


# ---------------------------------------------------------------------------------- running
@dataclass
class _Job:
    source: Path
    output: Path


# A decoded image, or the reason it could not be decoded.
_Decoded = Union[ImageData, str]


def _reason(source: Path, error: BaseException) -> str:
    """One line naming the file and the problem (domain errors already start with the path)."""
    text = str(error) or type(error).__name__
    if not isinstance(error, (OSError, ValueError)):
        text = f"{type(error).__name__}: {text}"
    return text if text.startswith(str(source)) else f"{source}: {text}"


def _decode_ahead(
    pool: ThreadPoolExecutor, jobs: list[_Job], load: Callable[[Path], ImageData], depth: int
) -> Iterator[tuple[_Job, _Decoded]]:
    """Decode ``jobs`` in the pool, at most ``depth`` ahead (fewer for big images), in order."""
    pending: deque[tuple[_Job, Future[ImageData]]] = deque()
    queued = iter(jobs)
    limit = min(depth, 2)  # until the first image shows how big they are
    while True:
        while len(pending) < limit and (job := next(queued, None)) is not None:
            pending.append((job, pool.submit(load, job.source)))
        if not pending:
            return
        job, future = pending.popleft()
        try:
            image = future.result()
        except Exception as error:  # noqa: BLE001 -- any broken file is reported, never a crash
            yield job, _reason(job.source, error)
            continue
        limit = max(1, min(depth, _PREFETCH_PIXELS // max(1, image.pixels[0].numel())))
        yield job, image


def _batches(
    decoded: Iterator[tuple[_Job, _Decoded]], batch_size: int, whole: Callable[[ImageData], bool]
) -> Iterator[list[tuple[_Job, _Decoded]]]:
    """Group same-size images into batches; failures and tiled images come alone.

    Images wait for partners of their size while the waiting ones stay under the pixel budget
    and ``4 * batch_size`` images; then the oldest group goes as it is.
    """
    groups: dict[tuple[int, ...], list[tuple[_Job, _Decoded]]] = {}
    waiting = waiting_pixels = 0
    for job, image in decoded:
        if isinstance(image, str) or batch_size == 1 or not whole(image):
            yield [(job, image)]
            continue
        key = tuple(image.pixels.shape)
        groups.setdefault(key, []).append((job, image))
        waiting += 1
        waiting_pixels += image.pixels[0].numel()
        if len(groups[key]) >= batch_size:
            batch = groups.pop(key)
        elif waiting >= 4 * batch_size or waiting_pixels >= _PREFETCH_PIXELS:
            batch = groups.pop(next(iter(groups)))  # dicts keep insertion order: the oldest group
        else:
            continue
        waiting -= len(batch)
        waiting_pixels -= sum(im.pixels[0].numel() for _, im in batch)  # type: ignore[union-attr]
        yield batch
    yield from groups.values()


def tile_for(pipeline: Pipeline, image_pixels: int, settings: ConvertSettings) -> int | None:
    """The tile side for an image of ``image_pixels`` pixels, or None to run it whole."""
    if settings.tile:
        return settings.tile
    if settings.max_pixels is None or image_pixels <= settings.max_pixels:
        return None
    multiple = max(1, pipeline.size_multiple)
    return max(multiple, math.isqrt(settings.max_pixels) // multiple * multiple)


def convert_files(
    pipeline: Pipeline,
    plan: list[tuple[Path, Path]],
    settings: ConvertSettings = ConvertSettings(),
    options: dict[str, Any] | None = None,
    on_progress: Callable[[int], None] | None = None,
    report: Callable[[str], None] | None = None,
) -> ConvertSummary:
    """Convert every planned file; a file that fails is reported and the rest go on.

    Worker threads decode ahead and encode behind while this thread runs the network, on
    batches of same-size images. Every output is written to a temporary name and renamed, so
    no partial file is ever left; existing outputs are skipped unless ``settings.overwrite``.

    Args:
        pipeline: a loaded pipeline.
        plan: from :func:`plan_outputs` (or this rank's :func:`shard_plan`).
        settings: batching, threads, tiling, overwrite; see :class:`ConvertSettings`.
        options: the pipeline's own options (``direction``...), checked beforehand with
            :func:`check_pipeline_options`.
        on_progress: called with the number of files finished (converted, skipped or failed).
        report: prints one line: each failure (``error: PATH: reason``) and notes. Default: stderr.

    Returns:
        Counts of converted, skipped and failed files, and the time taken.
    """
    say = report or (lambda line: print(line, file=sys.stderr))
    progress = on_progress or (lambda count: None)
    options = options or {}
    summary = ConvertSummary()
    started = time.monotonic()

    jobs = []
    for source, output in plan:
        if output.exists() and not settings.overwrite:
            summary.skipped += 1
        else:
            jobs.append(_Job(source, output))
    if summary.skipped:
        progress(summary.skipped)
    remove_stale_temporaries([job.output for job in jobs])

    def fail(job: _Job, reason: str) -> None:
        say(f"error: {reason}")
        summary.failed.append((job.source, reason))
        progress(1)

    def load(path: Path) -> ImageData:
        return load_image(path, channels=pipeline.input_channels, max_pixels=settings.image_pixel_limit)

    def save(job: _Job, result: ImageData) -> None:
        save_image(result.pixels, job.output, bit_depth=result.bit_depth, alpha=result.alpha, quality=settings.quality)

    saving: deque[tuple[_Job, Future[None]]] = deque()

    def reap(keep: int) -> None:
        """Collect finished saves, waiting for the oldest while more than ``keep`` are queued."""
        while saving and (len(saving) > keep or saving[0][1].done()):
            job, future = saving.popleft()
            try:
                future.result()
            except Exception as error:  # noqa: BLE001 -- disk full, permissions...: that file fails
                fail(job, _reason(job.source, error))
            else:
                summary.converted += 1
                progress(1)

    precision_checked = not settings.check_precision or pipeline.precision == "fp32"

    def run(images: list[ImageData]) -> list[ImageData]:
        nonlocal precision_checked
        pixels = torch.stack([image.pixels for image in images])
        kwargs: dict[str, Any] = options | {
            "tile": tile_for(pipeline, pixels.shape[-2] * pixels.shape[-1], settings),
            "tile_overlap": settings.tile_overlap,
        }
        outputs = pipeline(pixels, **kwargs)
        if not precision_checked:
            # One image is enough to catch weights that do not survive bf16, at the cost of one
            # fp32 forward per run.
            precision_checked = True
            closeness = float(psnr_against_fp32(pipeline, pixels[:1], outputs[:1], **kwargs)[0])
            if closeness < MIN_PSNR_DB:
                say(
                    f"note: {pipeline.precision} outputs were {closeness:.1f} dB PSNR from fp32 on the first "
                    f"image (below {MIN_PSNR_DB:.0f} dB); converting in fp32"
                )
                # channels_last only pays in reduced precision (see load_pipeline).
                pipeline.configure_runtime(pipeline.device, "fp32", channels_last=False)
                outputs = pipeline(pixels, **kwargs)
        return [attach_source_extras(image, output, pipeline.keeps_image_kind) for image, output in zip(images, outputs)]

    def whole(image: ImageData) -> bool:
        return tile_for(pipeline, image.pixels[0].numel(), settings) is None

    pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="convert-io")
    try:
        depth = max(2 * settings.workers, 2 * settings.batch_size)
        for batch in _batches(_decode_ahead(pool, jobs, load, depth), settings.batch_size, whole):
            decoded: list[tuple[_Job, ImageData]] = [(job, image) for job, image in batch if not isinstance(image, str)]
            for job, image in batch:
                if isinstance(image, str):
                    fail(job, image)
            if not decoded:
                continue
            results: list[ImageData | None]
            try:
                results = list(run([image for _, image in decoded]))
            except Exception as error:  # noqa: BLE001 -- reported per file below
                if len(decoded) == 1:
                    fail(decoded[0][0], _reason(decoded[0][0].source, error))
                    continue
                # One bad image must not sink its batch partners: retry them one by one.
                results = []
                for job, image in decoded:
                    try:
                        results += run([image])
                    except Exception as single_error:  # noqa: BLE001
                        fail(job, _reason(job.source, single_error))
                        results.append(None)
            for (job, _), result in zip(decoded, results):
                if result is not None:
                    saving.append((job, pool.submit(save, job, result)))
            # Bound the outputs waiting to be written (memory), and report finished ones promptly.
            reap(keep=2 * settings.workers + settings.batch_size)
        reap(keep=0)
    finally:
        # On an interrupt, saves already running finish (whole files); queued work is dropped.
        pool.shutdown(wait=True, cancel_futures=True)
    summary.seconds = time.monotonic() - started
    return summary
