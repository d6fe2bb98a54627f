"""Scores of a class-conditional (cbn) checkpoint: class fidelity and per-class FID/KID, beside real data.

A CycleGAN checkpoint is scored the same way, its two domains as the classes (``horse``,
``zebra``): translating into a domain runs the generator from the other one, so unpaired
translation gets the measures paired truth cannot give it (how often the output is taken for the
target domain, and how close it is to that domain's held-out images).

Rows of the report, per class and as a mean over classes:
    - ``model``: generation samples ``n`` images of each class (as many as the held-out real
      images of the class, or ``samples_per_class``); translation turns every held-out image of
      the other classes into the class;
    - ``identity`` (translation): the inputs returned unchanged, what a model that does nothing scores;
    - ``real held-out``: the held-out real images of the class. Its fidelity is the classifier's
      accuracy on them: the **ceiling** of a model's fidelity;
    - ``real training``: as many training images of the class. Its FID/KID against the held-out
      images is the **floor** a model that draws real images of the class would reach.

Metrics:
    - ``fidelity``: the share of outputs an independent classifier (:mod:`translate.classifier`,
      trained on real images only) assigns to the requested class;
    - ``fid``, ``kid`` (± ``kid_std``): per class, against the held-out real images of the class,
      on Inception features (:mod:`translate.metrics`); the mean row averages them over classes
      (the "intra-class FID" of the projection-discriminator paper). With about a hundred images
      per class FID is strongly biased upwards: compare rows, and read KID;
    - ``l1`` (translation with aligned classes): the output against the true image of the same
      name in the target class (the held-out emoji drawn in the target style).

Outputs are rounded to 8-bit levels first, so the scores are those of the files the CLI writes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from translate import __version__, metrics
from translate.checkpoint import load_pipeline
from translate.classifier import ImageClassifier, load_class_images, load_classifier
from translate.data import ClassFolderDataset, DatasetError, split_folder
from translate.imageio import atomic_write, load_image, save_image, to_8bit_levels
from translate.pipelines import Pipeline
from translate.pipelines.cbn import ClassConditional
from translate.pipelines.cyclegan import CycleGAN

MODEL_ROW = "model"
IDENTITY_ROW = "identity"
REAL_HELD_OUT_ROW = "real held-out"
REAL_TRAINING_ROW = "real training"
MEAN = "mean"
CLASS_METRICS = ("fidelity", "fid", "kid", "l1")
DEFAULT_METRICS = ("fidelity", "fid", "kid")


@dataclass
class ClassEvalReport:
    """Every number of a class evaluation: ``scores[row][class or "mean"][metric]``."""

    checkpoint: str
    data: str
    classifier: str
    mode: str
    classes: list[str]
    scores: dict[str, dict[str, dict[str, float]]]
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pipeline: str = "cbn"

    def to_dict(self) -> dict[str, Any]:
        def safe(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: safe(v) for k, v in value.items()}
            return value

        return {
            "checkpoint": self.checkpoint,
            "pipeline": self.pipeline,
            "data": self.data,
            "classifier": self.classifier,
            "mode": self.mode,
            "classes": self.classes,
            "scores": safe(self.scores),
            "settings": self.settings,
            "notes": self.notes,
            "versions": {"translate": __version__, "torch": torch.__version__},
        }

    def write_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_write(path) as temporary:
            temporary.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        """The report as text: one line per row and class, the mean first."""
        lines = [
            f"{self.pipeline} {self.mode}: class fidelity (share of outputs the classifier assigns to the requested class); "
            "FID and KID×1000 per class against its held-out real images",
            f"{'row':<15} {'class':<14} {'images':>6} {'fidelity':>8} {'FID':>8} {'KID×1000':>16} {'L1':>7}",
        ]
        for row, by_class in self.scores.items():
            for name, values in by_class.items():
                kid, spread = values.get("kid", math.nan), values.get("kid_std", math.nan)
                kid_text = f"{1000 * kid:.2f} ± {1000 * spread:.2f}" if math.isfinite(kid) else "—"
                lines.append(
                    f"{row:<15} {name:<14} {int(values.get('images', 0)):>6} {_number(values.get('fidelity'), 3):>8} "
                    f"{_number(values.get('fid'), 2):>8} {kid_text:>16} {_number(values.get('l1'), 4):>7}"
                )
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _number(value: float | None, digits: int) -> str:
    return f"{value:.{digits}f}" if value is not None and math.isfinite(value) else "—"


@dataclass(frozen=True)
class ClassModel:
    """What class scoring needs of a checkpoint: its classes, its mode and how it draws a class.

    A cbn checkpoint's classes are its own. A CycleGAN's are its two domains, and translating
    into one domain runs the generator from the other (images of that other domain in, as in
    every use of the scores).
    """

    pipeline: Pipeline
    classes: tuple[str, ...]
    mode: str  # "generation" or "translation"

    @property
    def channels(self) -> int:
        return self.pipeline.output_channels

    def translate(self, images: Tensor, class_name: str) -> Tensor:
        """``images`` redrawn as ``class_name`` (from any other class for cbn; from the other domain for CycleGAN)."""
        if isinstance(self.pipeline, CycleGAN):
            return self.pipeline(images, direction="a2b" if class_name == self.classes[1] else "b2a")
        return self.pipeline(images, class_name=class_name)

    def round_trip(self, images: Tensor, class_name: str) -> Tensor:
        """CycleGAN: ``images`` of ``class_name`` translated into the other domain and back."""
        other = self.classes[1 - self.classes.index(class_name)]
        return self.translate(self.translate(images, other), class_name)


def class_model(pipeline: Pipeline) -> ClassModel:
    """The class view of a cbn or CycleGAN pipeline.

    Raises:
        ValueError: another pipeline; a CycleGAN whose domains have different channel counts
            (class scores load every class with one count).
    """
    if isinstance(pipeline, ClassConditional):
        return ClassModel(pipeline, tuple(pipeline.class_names), pipeline.mode)
    if isinstance(pipeline, CycleGAN):  # its config already refuses two domains of one name
        if pipeline.input_channels != pipeline.output_channels:
            raise ValueError(
                f"the CycleGAN's domains have {pipeline.input_channels} and {pipeline.output_channels} channels; "
                "class scores load every class with one channel count"
            )
        return ClassModel(pipeline, pipeline.domains, "translation")
    raise ValueError(f"a {pipeline.name} checkpoint; class scores need a cbn or cyclegan checkpoint")


def class_fidelity(classifier: ImageClassifier, images: Tensor, class_name: str) -> float:
    """Share of ``images`` the classifier assigns to ``class_name`` (NaN for no images).

    Shape:
        images: ``[N, C, H, W]`` in [0, 1].

    Raises:
        ValueError: the classifier does not know the class (the message lists its classes).
    """
    if class_name not in classifier.classes:
        known = ", ".join(classifier.classes)
        raise ValueError(f"the classifier does not know class {class_name!r}; its classes: {known}")
    if len(images) == 0:
        return math.nan
    return float((classifier.predict(images) == classifier.classes.index(class_name)).float().mean())


def _distribution(
    real: Tensor | None, fake: Tensor | None, wanted: Sequence[str], kid_subsets: int
) -> dict[str, float]:
    """FID and KID (± ``kid_std``) of two feature sets; NaN when a set has fewer than 2 images."""
    if real is None or fake is None:
        return {}
    enough = min(len(real), len(fake)) >= 2
    scores: dict[str, float] = {}
    if "fid" in wanted:
        scores["fid"] = metrics.fid(real, fake) if enough else math.nan
    if "kid" in wanted:
        scores["kid"], scores["kid_std"] = metrics.kid(real, fake, subsets=kid_subsets) if enough else (math.nan,) * 2
    return scores


def _mean_row(by_class: dict[str, dict[str, float]]) -> dict[str, float]:
    """Fidelity and L1 pooled over every image; FID and KID averaged over the classes."""
    rows = list(by_class.values())
    total = sum(r.get("images", 0) for r in rows)
    mean: dict[str, float] = {"images": total}
    for name in ("fidelity", "l1"):
        # L1 counts only the outputs that have a true image ("l1_images"), fidelity every output.
        weighted = [
            (r[name], r.get(f"{name}_images", r.get("images", 0))) for r in rows if name in r and math.isfinite(r[name])
        ]
        if any(name in r for r in rows):
            count = sum(n for _, n in weighted)
            mean[name] = sum(v * n for v, n in weighted) / count if count else math.nan
    for name in ("fid", "kid", "kid_std"):
        values = [r[name] for r in rows if name in r and math.isfinite(r[name])]
        if any(name in r for r in rows):
            mean[name] = sum(values) / len(values) if values else math.nan
    return mean


def _run_in_batches(function: Callable[[Tensor], Tensor], images: Tensor, batch_size: int) -> Tensor:
    outputs = [function(images[i : i + batch_size]).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(outputs) if outputs else images[:0]


def evaluate_classes(
    checkpoint: str | os.PathLike | Pipeline,
    data: str | os.PathLike,
    classifier: str | os.PathLike | ImageClassifier,
    *,
    metric_names: Sequence[str] | None = None,
    samples_per_class: int | None = None,
    seed: int = 0,
    truncation: float | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "fp32",
    inception: metrics.InceptionFeatures | None = None,
    kid_subsets: int = 100,
    limit_per_class: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ClassEvalReport:
    """Score a cbn or CycleGAN checkpoint's class fidelity and per-class FID/KID beside the real-data rows.

    Args:
        checkpoint: a cbn or cyclegan checkpoint folder, shipped name, or loaded pipeline (a
            CycleGAN's classes are its domains, so ``data`` needs a folder named after each).
        data: a folder per class with ``train/`` and ``test/`` (or ``val/``): the held-out
            images are the reference, the training images the floor.
        classifier: a classifier folder (``scripts/train_classifier.py``) or a loaded one; it
            must know every class of the checkpoint.
        metric_names: any of ``fidelity``, ``fid``, ``kid`` (``l1`` is added for translation
            wherever classes are aligned); default: all three.
        samples_per_class: generation: images per class (default: the class's held-out count).
        seed: generation: image ``i`` of every class uses noise seed ``seed + i``; also picks the
            training subset of the floor row.
        truncation: generation: truncation threshold (None: the full normal distribution).
        batch_size: images per forward pass.
        device: ``cpu``, ``cuda``, ``auto``.
        precision: the model's precision (``fp32``, ``bf16``, ``auto``).
        inception: a feature extractor to reuse (default: loaded when FID/KID are asked for).
        kid_subsets: random subsets KID averages over.
        limit_per_class: use only the first N held-out images of each class (quick checks).
        on_progress: called with a short message as each stage starts.

    Returns:
        The report (see the module docstring for its rows).

    Raises:
        ValueError: neither a cbn nor a cyclegan checkpoint, an unknown metric, or a class the
            classifier lacks.
        DatasetError: no held-out split, or a class folder missing.
        MetricError: FID/KID asked for but the Inception network is missing.
    """
    say = on_progress or (lambda message: None)
    wanted = tuple(metric_names) if metric_names is not None else DEFAULT_METRICS
    unknown = sorted(set(wanted) - set(CLASS_METRICS))
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; choose from: {', '.join(CLASS_METRICS)}")
    if isinstance(checkpoint, Pipeline):
        pipeline, source = checkpoint, str(getattr(checkpoint, "checkpoint_path", ""))
    else:
        pipeline, source = load_pipeline(checkpoint, device=device, precision=precision), str(checkpoint)
    try:
        model = class_model(pipeline)
    except ValueError as error:
        raise ValueError(f"{source or pipeline.name}: {error}") from None
    judge = classifier if isinstance(classifier, ImageClassifier) else load_classifier(classifier, device="cpu")
    check_classifier_for(model.classes, judge)
    classes = model.classes
    data = Path(data)
    held_out_root, training_root = split_folder(data, train=False), split_folder(data, train=True)
    if held_out_root == data or training_root == data:
        raise DatasetError(
            f"{data}: needs train/ and test/ (or val/) folders of classes: the reference must be held out"
        )

    def dataset(root: Path) -> ClassFolderDataset:
        # The deterministic view of the model's own preprocessing: what it was trained to match.
        return ClassFolderDataset(root, classes, model.channels, pipeline.config.data, train=False,
                                  size_multiple=pipeline.size_multiple)

    say("loading held-out and training images")
    held_out = dataset(held_out_root)
    kept = _first_per_class(held_out, len(classes), limit_per_class)
    real, labels = load_class_images(held_out, kept)
    stems = [held_out.stem(index) for index in kept]
    training = dataset(training_root)
    generator = torch.Generator().manual_seed(seed)
    floor_indices: dict[int, list[int]] = {}
    for label in range(len(classes)):
        members = [i for i, (_, own) in enumerate(training.files) if own == label]
        count = int((labels == label).sum())
        floor_indices[label] = [members[i] for i in torch.randperm(len(members), generator=generator)[:count].tolist()]
    training_images = {label: load_class_images(training, picks)[0] for label, picks in floor_indices.items()}

    features = None
    if {"fid", "kid"} & set(wanted):
        features = inception or metrics.InceptionFeatures(device=pipeline.device, batch_size=batch_size)
        say("Inception features of the real images")
        real_features = features(real)

    def feats(images: Tensor) -> Tensor | None:
        return features(images) if features is not None else None

    rows: dict[str, dict[str, dict[str, float]]] = {MODEL_ROW: {}}
    if model.mode == "translation":
        rows[IDENTITY_ROW] = {}
    rows[REAL_HELD_OUT_ROW], rows[REAL_TRAINING_ROW] = {}, {}
    row_of = {(int(label), stem): row for row, (label, stem) in enumerate(zip(labels, stems))}
    for label, name in enumerate(classes):
        own = labels == label
        reference = real_features[own] if features is not None else None
        say(f"class {name}")
        if model.mode == "generation":
            count = samples_per_class or int(own.sum())
            outputs = {MODEL_ROW: to_8bit_levels(pipeline.sample(name, count, seed=seed, truncation=truncation))}
            inputs_at: list[int] = []
        else:
            inputs_at = torch.nonzero(~own).flatten().tolist()
            inputs = real[inputs_at]
            translated = _run_in_batches(lambda batch: model.translate(batch, name), inputs, batch_size)
            outputs = {MODEL_ROW: to_8bit_levels(translated), IDENTITY_ROW: inputs}
        for row_name, images in outputs.items():
            scores: dict[str, float] = {"images": len(images)}
            if "fidelity" in wanted:
                scores["fidelity"] = class_fidelity(judge, images, name)
            if row_name == IDENTITY_ROW and features is not None:
                # The identity's outputs are held-out images: their features are already computed.
                scores |= _distribution(reference, real_features[inputs_at], wanted, kid_subsets)
            else:
                scores |= _distribution(reference, feats(images), wanted, kid_subsets)
            if model.mode == "translation":
                scores |= _aligned_l1(images, [stems[i] for i in inputs_at], label, row_of, real)
            rows[row_name][name] = scores
        real_row: dict[str, float] = {"images": int(own.sum())}
        floor_row: dict[str, float] = {"images": len(training_images[label])}
        if "fidelity" in wanted:
            real_row["fidelity"] = class_fidelity(judge, real[own], name)
            floor_row["fidelity"] = class_fidelity(judge, training_images[label], name)
        floor_row |= _distribution(reference, feats(training_images[label]), wanted, kid_subsets)
        rows[REAL_HELD_OUT_ROW][name], rows[REAL_TRAINING_ROW][name] = real_row, floor_row
    scores = {row: {MEAN: _mean_row(by_class)} | by_class for row, by_class in rows.items()}
    notes = [
        "real held-out fidelity = the classifier's accuracy on held-out real images: the ceiling of a model's fidelity",
        "real training FID/KID = as many training images against the held-out ones: the floor of a model's FID/KID",
    ]
    if features is not None and min(int((labels == c).sum()) for c in range(len(classes))) < 2048:
        notes.append("FID on fewer than 2,048 images per class is biased upwards: compare rows, read KID ± its std")
    return ClassEvalReport(
        checkpoint=source,
        data=str(data),
        classifier=str(classifier) if not isinstance(classifier, ImageClassifier) else "",
        mode=model.mode,
        classes=list(classes),
        scores=scores,
        settings={
            "metrics": list(wanted),
            "samples_per_class": samples_per_class,
            "seed": seed,
            "truncation": truncation,
            "limit_per_class": limit_per_class,
            "precision": pipeline.precision,
            "inception": features.describe() if isinstance(features, metrics.InceptionFeatures) else None,
        },
        notes=notes,
        pipeline=pipeline.name,
    )


def _first_per_class(dataset: ClassFolderDataset, count: int, limit: int | None) -> list[int]:
    """Indices of the dataset's images, at most ``limit`` of each class (its first ones)."""
    taken = [0] * count
    kept = []
    for index, (_, label) in enumerate(dataset.files):
        if limit is None or taken[label] < limit:
            kept.append(index)
            taken[label] += 1
    return kept


def _aligned_l1(
    outputs: Tensor, input_stems: list[str], label: int, row_of: dict[tuple[int, str], int], real: Tensor
) -> dict[str, float]:
    """Mean L1 of the outputs whose input has an image of the same name in class ``label``.

    Shape:
        outputs: ``[N, C, H, W]``, one per name in ``input_stems``; real: the held-out images that
        ``row_of[(label, name)]`` indexes.
    """
    pairs = [(row, row_of[(label, stem)]) for row, stem in enumerate(input_stems) if (label, stem) in row_of]
    if not pairs:
        return {}
    rows, targets = zip(*pairs)
    error = (outputs[list(rows)].float() - real[list(targets)].float()).abs().flatten(1).mean(dim=1)
    return {"l1": float(error.mean()), "l1_images": len(pairs)}


# ---------------------------------------------------------------------------------- bundled examples
def sample_fidelity(
    pipeline: ClassConditional, classifier: ImageClassifier, per_class: int, seed: int = 0, truncation: float | None = None
) -> float:
    """Mean over classes of the fidelity of ``per_class`` samples from seeds ``seed ..`` (generation).

    Deterministic for a seed on one device: what a shipped generation checkpoint's card records
    and its test reproduces.
    """
    check_classifier_for(pipeline.class_names, classifier)
    scores = []
    for name in pipeline.class_names:
        images = to_8bit_levels(pipeline.sample(name, per_class, seed=seed, truncation=truncation).cpu())
        scores.append(class_fidelity(classifier, images, name))
    return sum(scores) / len(scores)


def examples_scores(
    pipeline: Pipeline, folder: str | os.PathLike, classifier: ImageClassifier | None = None
) -> dict[str, float]:
    """Scores of translating every image of ``folder/<class>/`` into every other class.

    What a shipped translation checkpoint's card records for its bundled examples and its test
    reproduces. Unpaired examples have no true output, so the checks are what the model does
    to the input and how the classifier sees the result; where the target class holds an image of
    the same name (the same emoji in another style), the L1 to it as well.

    Returns:
        ``pairs``: (input, target class) pairs translated; ``change``: mean L1 between output and
        input; ``fidelity`` (with a classifier): share of outputs assigned to their target class;
        ``l1`` and ``l1_pairs``: mean L1 to the same-named image of the target class, over the
        pairs that have one (absent when none do). Outputs are rounded to 8-bit levels first.

    Raises:
        ValueError: not a translation checkpoint, a class folder missing (the message lists the
            folders expected) or empty (the message names it).
    """
    model = class_model(pipeline)
    if model.mode != "translation":
        raise ValueError("examples are translated: this checkpoint generates from noise (use sample_fidelity)")
    if classifier is not None:
        check_classifier_for(model.classes, classifier)
    folder = Path(folder)
    expected = ", ".join(model.classes)
    missing = [name for name in model.classes if not (folder / name).is_dir()]
    if missing:
        raise ValueError(f"{folder}: no folder for class {missing[0]!r}; expected one per class: {expected}")
    files: dict[str, list[Path]] = {}
    for name in model.classes:
        files[name] = sorted(p for p in (folder / name).iterdir() if p.is_file())
        if not files[name]:
            raise ValueError(f"{folder / name}: no images")
    images = {
        name: torch.stack([load_image(path, channels=model.channels).pixels for path in paths])
        for name, paths in files.items()
    }
    changes, hits, errors = [], [], []
    for source in model.classes:
        for target in model.classes:
            if source == target:
                continue
            output = to_8bit_levels(model.translate(images[source], target).cpu())
            changes.append((output - images[source]).abs().flatten(1).mean(dim=1))
            if classifier is not None:
                hits.append(classifier.predict(output) == classifier.classes.index(target))
            by_name = {path.name: index for index, path in enumerate(files[target])}
            for row, path in enumerate(files[source]):
                if path.name in by_name:
                    errors.append((output[row] - images[target][by_name[path.name]]).abs().mean())
    every_change = torch.cat(changes)
    scores: dict[str, float] = {"pairs": len(every_change), "change": float(every_change.mean())}
    if classifier is not None:
        scores["fidelity"] = float(torch.cat(hits).float().mean())
    if errors:
        scores["l1"], scores["l1_pairs"] = float(torch.stack(errors).mean()), len(errors)
    return scores


# ---------------------------------------------------------------------------------- sample grids
def image_grid(images: Tensor, columns: int) -> Tensor:
    """Images tiled ``columns`` to a row with 2-pixel white gaps (greyscale becomes RGB).

    Shape:
        images: ``[N, C, H, W]`` in [0, 1]; returns ``[3, H', W']``.
    """
    import torchvision.utils

    return torchvision.utils.make_grid(images.float().cpu()[:, :3], nrow=max(1, columns), padding=2, pad_value=1.0)


def class_grid(
    pipeline: Pipeline,
    columns: int = 8,
    seed: int = 0,
    truncation: float | None = None,
    data: str | os.PathLike | None = None,
) -> Tensor:
    """The model card's grid of every class.

    Generation: a row per class, a column per seed (``seed .. seed + columns - 1``; the same noise
    down each column). Translation: a row per held-out input of ``data`` (``columns`` of them,
    taken from the classes in turn), the input then its translation into each class. CycleGAN:
    the same rows, each the input, its translation into the other domain and the round trip back.

    Returns:
        ``[3, H', W']`` in [0, 1].

    Raises:
        ValueError: neither a cbn nor a cyclegan pipeline; translation without ``data``.
    """
    model = class_model(pipeline)
    if model.mode == "generation":
        samples = [pipeline.sample(name, columns, seed=seed, truncation=truncation) for name in model.classes]
        return image_grid(torch.cat(samples), columns)
    if data is None:
        raise ValueError("a translation grid needs held-out images: pass data")
    held_out_root = split_folder(Path(data), train=False)
    held_out = ClassFolderDataset(held_out_root, model.classes, model.channels, pipeline.config.data,
                                  train=False, size_multiple=pipeline.size_multiple)
    count = len(model.classes)
    by_class = [[i for i, (_, label) in enumerate(held_out.files) if label == c] for c in range(count)]
    picks = []
    for row in range(columns):  # the first image of each class, then the second of each...
        members = by_class[row % count]
        if row // count < len(members):
            picks.append(members[row // count])
    inputs, labels = load_class_images(held_out, picks)
    if isinstance(pipeline, CycleGAN):
        rows = []
        for image, label in zip(inputs, labels.tolist()):
            own = model.classes[label]
            other = model.classes[1 - label]
            image = image[None]
            rows += [image, model.translate(image, other).cpu(), model.round_trip(image, own).cpu()]
        return image_grid(torch.cat(rows), 3)
    tiles = [inputs] + [model.translate(inputs, name).cpu() for name in model.classes]
    rows = torch.stack(tiles, dim=1).flatten(0, 1)  # input, class 1, class 2, ... per row
    return image_grid(rows, len(tiles))


def write_class_grid(pipeline: Pipeline, path: str | os.PathLike, **options: Any) -> Path:
    """Save :func:`class_grid` to ``path`` (atomically)."""
    save_image(class_grid(pipeline, **options), path)
    return Path(path)


def check_classifier_for(classes: Sequence[str], classifier: ImageClassifier) -> None:
    """Raise ValueError when the classifier lacks one of the model's ``classes`` (the message lists its classes)."""
    missing = [name for name in classes if name not in classifier.classes]
    if missing:
        known = ", ".join(classifier.classes)
        raise ValueError(f"the classifier does not know class {missing[0]!r} of the checkpoint; its classes: {known}")
