"""Paired sets derived from any folder of photos: edges→photo, grey→colour, low-res→high-res.

Each photo gives ``crops_per_image`` same-size crops B; A is computed from B as stored (8-bit),
so ``A == make_a(load(B))`` holds for the files on disk. The output is the folder layout
:func:`translate.data.find_pairs` reads: ``OUT/{train,test}/{A,B}/NAME.png``.

Splits are by photo, never by crop, so no crop of a held-out photo is trained on. A source with
``train/`` and ``test/`` (or ``val/``) keeps its split: a set derived from another set (edges of
emoji, say) then holds out exactly the images that set holds out.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import kornia
import numpy as np
import torch
from torch import Tensor

from translate.data import DatasetError, split_folder
from translate.datasets.common import (
    SPLITS,
    BuildSummary,
    Progress,
    flatten,
    held_out_indices,
    parse_colour,
    recorded_options,
    stable_hash,
    staged_output,
    warn,
    warn_empty_splits,
    write_metadata,
)
from translate.imageio import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    bicubic_resize,
    list_images,
    load_image,
    save_image,
    to_8bit_levels,
)

# B [3, H, W] in [0, 1] → A [C, h, w] in [0, 1].
MakeA = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class PhotoPairOptions:
    """How crops are cut and split; the same for every kind of photo pair.

    Attributes:
        size: side of the square crops B.
        crops_per_image: crops cut from each photo, at positions drawn from ``seed`` and its name.
        seed: seed of the crop positions and of the split.
        test_fraction: share of photos held out, when the source has no split of its own.
        subfolder: read only this sub-folder of the source (of each split folder), e.g. ``B``.
        resize_short: resize each photo so its short side is this first (0 = native resolution).
        background: colour transparent images are composited on.
        overwrite: replace a non-empty output folder.
    """

    size: int = 256
    crops_per_image: int = 1
    seed: int = 0
    test_fraction: float = 0.1
    subfolder: str | None = None
    resize_short: int = 0
    background: str = "white"
    overwrite: bool = False


def edges_of(photo: Tensor, low: float = 0.1, high: float = 0.2) -> Tensor:
    """Canny edges as dark lines on white, like edges2shoes: ``kornia.filters.canny``'s edge map.

    Args:
        photo: ``[3, H, W]`` in [0, 1].
        low, high: kornia's thresholds on its (unnormalised Sobel) gradient magnitude.

    Returns:
        ``[1, H, W]``: 0 on edges, 1 elsewhere.
    """
    grey = kornia.color.rgb_to_grayscale(photo[None])
    _, candidates = kornia.filters.canny(grey, low_threshold=low, high_threshold=high, hysteresis=False)
    return 1 - _hysteresis(candidates[0, 0])[None]


def _hysteresis(candidates: Tensor) -> Tensor:
    """Keep weak (0.5) pixels 8-connected to a strong (1) one: kornia's hysteresis, done by labelling.

    kornia grows strong edges one pixel per pass until nothing changes, which takes seconds on
    a photo with long weak chains; labelling connected components gives the same map at once.
    """
    _, labels_array = cv2.connectedComponents((candidates > 0).numpy().astype(np.uint8), connectivity=8)
    labels = torch.from_numpy(labels_array).long()
    keep = torch.zeros(int(labels.max()) + 1, dtype=torch.bool)
    keep[labels[candidates == 1]] = True
    keep[0] = False  # the background label
    return keep[labels].to(candidates.dtype)


def grey_of(photo: Tensor) -> Tensor:
    """ITU-R 601 luma ``[1, H, W]`` of ``[3, H, W]`` (the weights Pillow's "L" uses)."""
    return kornia.color.rgb_to_grayscale(photo[None])[0]


def downscale(photo: Tensor, scale: int) -> Tensor:
    """Antialiased bicubic downscale by an integer factor: ``[C, H, W]`` → ``[C, H/scale, W/scale]``."""
    return bicubic_resize(photo, (photo.shape[-2] // scale, photo.shape[-1] // scale))


def build_edges(
    source: Path,
    out: Path,
    options: PhotoPairOptions,
    low: float = 0.1,
    high: float = 0.2,
    progress: Progress | None = None,
) -> BuildSummary:
    """Edges→photo pairs (A = :func:`edges_of` B). See :func:`build_photo_pairs`."""
    if not 0 < low <= high:
        raise DatasetError(f"Canny thresholds need 0 < low <= high, got low={low}, high={high}")
    settings = {"canny_low": low, "canny_high": high}
    return build_photo_pairs("edges", source, out, options, lambda b: edges_of(b, low, high), settings, progress)


def build_gray(source: Path, out: Path, options: PhotoPairOptions, progress: Progress | None = None) -> BuildSummary:
    """Colourisation pairs (A = :func:`grey_of` B). See :func:`build_photo_pairs`."""
    return build_photo_pairs("gray", source, out, options, grey_of, {}, progress)


def build_lowres(
    source: Path, out: Path, options: PhotoPairOptions, scale: int = 4, progress: Progress | None = None
) -> BuildSummary:
    """Super-resolution pairs (A = :func:`downscale` of B by ``scale``). See :func:`build_photo_pairs`."""
    if scale < 2 or options.size % scale:
        raise DatasetError(f"--scale must be at least 2 and divide --size {options.size}, got {scale}")
    return build_photo_pairs("lowres", source, out, options, lambda b: downscale(b, scale), {"scale": scale}, progress)


def build_photo_pairs(
    kind: str,
    source: Path,
    out: Path,
    options: PhotoPairOptions,
    make_a: MakeA,
    settings: dict[str, float | int],
    progress: Progress | None = None,
) -> BuildSummary:
    """Cut crops from every photo under ``source`` and write (A, B) pairs into ``out``.

    Args:
        kind: the builder's name, recorded in ``metadata.json``.
        source: a photo folder (walked recursively), or one with ``train/`` and ``test/``.
        out: the output folder (written atomically).
        options: crop size and count, seed, split, background for transparent images.
        make_a: computes A from each stored crop B.
        settings: the builder's own settings, recorded in ``metadata.json``.
        progress: called with (photos done, photos in all).

    Returns:
        Pairs per split and the photos skipped (unreadable or smaller than the crop).

    Raises:
        DatasetError: bad options, no images, no usable image, or an output that would destroy data.
    """
    started = time.perf_counter()
    _check_options(options)
    plan = plan_photo_splits(source, options)
    background = parse_colour(options.background)
    total = sum(len(items) for items in plan.values())
    counts = dict.fromkeys(SPLITS, 0)
    skipped: list[tuple[str, str]] = []
    done = 0
    with staged_output(out, options.overwrite, source) as staging:
        for split, items in plan.items():
            for path, stem in items:
                try:
                    counts[split] += _write_pairs(path, stem, staging / split, options, background, make_a)
                except ImageReadError as error:
                    warn(f"skipping {error}")
                    skipped.append((str(path), str(error).removeprefix(f"{path}: ")))
                done += 1
                if progress is not None:
                    progress(done, total)
        if not any(counts.values()):
            first, reason = skipped[0]
            raise DatasetError(f"{source}: none of the {total} image(s) could be used (first: {first}: {reason})")
        write_metadata(
            staging,
            {
                "kind": kind,
                "source": str(source),
                "options": recorded_options(options) | settings,
                "pairs": counts,
                "skipped": [{"file": name, "reason": reason} for name, reason in skipped],
            },
        )
    if skipped:
        warn(f"{source}: skipped {len(skipped)} unusable image(s)")
    warn_empty_splits(counts, out)
    return BuildSummary(kind, out, counts, skipped, time.perf_counter() - started)


def _check_options(options: PhotoPairOptions) -> None:
    if options.size < 1 or options.crops_per_image < 1:
        raise DatasetError(
            f"--size and --crops-per-image must be positive, got {options.size} and {options.crops_per_image}"
        )
    if options.resize_short and options.resize_short < options.size:
        raise DatasetError(f"--resize-short {options.resize_short} is smaller than the crop --size {options.size}")


def plan_photo_splits(source: Path, options: PhotoPairOptions) -> dict[str, list[tuple[Path, str]]]:
    """Which photos go to which split, each with the name (relative path, no suffix) its pairs get.

    A source with ``train/`` and ``test/`` (or ``val/``) keeps that split; otherwise photos are
    held out at random, ``options.test_fraction`` of them, drawn from ``options.seed``.

    Raises:
        DatasetError: the source (or its sub-folder) is missing or holds no images.
    """
    if not source.is_dir():
        raise DatasetError(f"{source}: no such source folder")
    train, test = split_folder(source, train=True), split_folder(source, train=False)
    if train != source and test != source:
        return {"train": _photos(train, options.subfolder), "test": _photos(test, options.subfolder)}
    photos = _photos(source, options.subfolder)
    held_out = held_out_indices(len(photos), options.test_fraction, np.random.default_rng(options.seed))
    return {
        "train": [photo for i, photo in enumerate(photos) if i not in held_out],
        "test": [photo for i, photo in enumerate(photos) if i in held_out],
    }


def _photos(folder: Path, subfolder: str | None) -> list[tuple[Path, str]]:
    folder = folder / subfolder if subfolder else folder
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder")
    photos = [(path, path.relative_to(folder).with_suffix("").as_posix()) for path in list_images(folder)]
    if not photos:
        raise DatasetError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    duplicate = next((stem for stem, count in Counter(stem for _, stem in photos).items() if count > 1), None)
    if duplicate is not None:
        # x.jpg and x.png would write the same pair files.
        raise DatasetError(f"{folder}: several images are named {duplicate!r} (different extensions); rename one")
    return photos


def _write_pairs(
    path: Path,
    stem: str,
    folder: Path,
    options: PhotoPairOptions,
    background: tuple[int, int, int],
    make_a: MakeA,
) -> int:
    """Write the crops of one photo as pairs; returns how many.

    Raises:
        ImageReadError: the photo cannot be read or is smaller than the crop.
    """
    image = load_image(path, channels=3)
    photo = flatten(image.pixels, image.alpha, background)
    if options.resize_short:
        height, width = photo.shape[-2:]
        factor = options.resize_short / min(height, width)
        photo = bicubic_resize(photo, (round(height * factor), round(width * factor)))
    height, width = photo.shape[-2:]
    if min(height, width) < options.size:
        raise ImageReadError(f"{path}: {width}×{height} is smaller than the crop size {options.size}")
    # Seeded by the photo's name, not its position: adding photos leaves the other crops unchanged.
    rng = np.random.default_rng([options.seed, stable_hash(stem)])
    for index in range(options.crops_per_image):
        top = int(rng.integers(0, height - options.size + 1))
        left = int(rng.integers(0, width - options.size + 1))
        b = to_8bit_levels(photo[:, top : top + options.size, left : left + options.size])
        name = f"{stem}_{index}.png" if options.crops_per_image > 1 else f"{stem}.png"
        save_image(make_a(b), folder / "A" / name)
        save_image(b, folder / "B" / name)
    return options.crops_per_image
