"""An independent image classifier, trained on real images only, to judge class-conditional models.

The class-fidelity score of :mod:`translate.class_eval` is the share of a model's outputs this
classifier assigns to the requested class; its accuracy on held-out real images is the ceiling
that score is read against. It never sees a generated image, and it shares no code with the
discriminators, so a model cannot score well by fooling a network it trained against.

Saved as a folder like a checkpoint: ``config.json`` (classes, input size, channels, held-out
accuracy) and ``model.safetensors``. Train one with ``scripts/train_classifier.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from translate.checkpoint import CheckpointError, load_module_weights, module_weights, read_weights
from translate.config import ConfigError, from_dict, option, to_dict
from translate.data import ClassFolderDataset, DataConfig, DatasetError, ResumableSampler, load_image_half, split_folder
from translate.imageio import atomic_folder, bicubic_resize, commit_folder, list_images

FORMAT_VERSION = 1
KIND = "class-classifier"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class ClassifierConfig:
    classes: tuple[str, ...] = option((), "class names, in label order")
    image_size: int = option(32, "images are resized to this side before classification")
    channels: int = option(3, "1 (grey) or 3 (RGB); inputs are converted with the loader's channel policy")
    width: int = option(32, "channels of the first convolution; each level doubles it, up to 8×")


@dataclass(frozen=True)
class ClassifierTraining:
    steps: int = option(2000, "optimisation steps")
    batch_size: int = option(64, "images per step")
    lr: float = option(1e-3, "Adam learning rate (cosine decay to zero)")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    seed: int = option(0, "initialisation, data order and augmentation draws")
    workers: int = option(0, "data-loading worker processes")


class ImageClassifier(nn.Module):
    """A small VGG-style network: per level two conv3-BN-ReLU and a ×½ max pool, down to 4×4 or
    smaller; then global average pooling, dropout and a linear layer.

    Args:
        config: classes, input size, channels and width.

    Shape:
        :meth:`forward`: ``[N, C, H, W]`` in [0, 1], any C in {1, 3, 4} and size → logits
        ``[N, len(classes)]``.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        if not config.classes:
            raise ValueError("a classifier needs at least one class")
        if config.channels not in (1, 3):
            raise ValueError(f"classifier channels must be 1 or 3, got {config.channels}")
        if config.image_size < 8:
            raise ValueError(f"classifier image_size must be at least 8, got {config.image_size}")
        self.config = config
        levels = max(1, int(math.log2(config.image_size)) - 2)
        layers: list[nn.Module] = []
        in_channels = config.channels
        for level in range(levels):
            width = config.width * min(2**level, 8)
            for _ in range(2):
                layers += [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                in_channels = width
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(in_channels, len(config.classes))

    @property
    def classes(self) -> list[str]:
        return list(self.config.classes)

    def prepare(self, images: Tensor) -> Tensor:
        """Channels and size the network takes, mapped to [-1, 1]."""
        if images.dim() != 4:
            raise ValueError(f"expected [N, C, H, W] images, got shape {tuple(images.shape)}")
        images = images.float()
        if images.shape[1] != self.config.channels:
            images = torch.stack([load_image_half(image, self.config.channels) for image in images])
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = bicubic_resize(images, (size, size))
        return images * 2 - 1

    def forward(self, images: Tensor) -> Tensor:
        features = self.body(self.prepare(images)).mean(dim=(2, 3))
        return self.head(self.dropout(features))

    @torch.inference_mode()
    def predict(self, images: Tensor, batch_size: int = 256) -> Tensor:
        """Predicted labels ``[N]`` (indices into :attr:`classes`), in eval mode."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        labels = [
            self(images[start : start + batch_size].to(device)).argmax(dim=1).cpu()
            for start in range(0, len(images), batch_size)
        ]
        self.train(was_training)
        return torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)


def data_config_for(data: str | os.PathLike, classes: Sequence[str]) -> DataConfig:
    """How the classifier reads ``data``: at the images' own size, with small random crops of a
    slightly enlarged copy and flips (the pix2pix jitter) when training.

    The images keep their size so that :meth:`ImageClassifier.prepare` makes the one reduction to
    the classifier's size, antialiased, for real images in training and for the model outputs it
    judges alike. (Downscaled by the loader instead, without antialiasing, thin line art looked
    different enough that a classifier at 97% on its own held-out images fell to 70% on the same
    images reduced the other way.)
    """
    root = split_folder(Path(data), train=True)
    folder = root / classes[0]
    first = next(iter(list_images(folder)), None) if folder.is_dir() else None
    if first is None:
        raise DatasetError(f"{folder}: no images (needed to know the image size)")
    with Image.open(first) as image:
        side = max(image.size)
    return DataConfig(image_size=side, load_size=round(side * 1.125), preprocess="resize_and_crop", flip=True)


def held_out_accuracy(
    classifier: ImageClassifier, images: Tensor, labels: Tensor, batch_size: int = 256
) -> dict[str, Any]:
    """Accuracy overall and per class on labelled images.

    Shape:
        images: ``[N, C, H, W]`` in [0, 1]; labels: ``[N]`` indices into ``classifier.classes``.

    Returns:
        ``{"accuracy": float, "per_class": {name: float}, "images": N, "images_per_class": {name: int}}``
        (NaN for a class without images).
    """
    predicted = classifier.predict(images, batch_size)
    correct = predicted == labels
    per_class, counts = {}, {}
    for label, name in enumerate(classifier.classes):
        chosen = labels == label
        counts[name] = int(chosen.sum())
        per_class[name] = float(correct[chosen].float().mean()) if chosen.any() else math.nan
    return {
        "accuracy": float(correct.float().mean()) if len(labels) else math.nan,
        "per_class": per_class,
        "images": len(labels),
        "images_per_class": counts,
    }


def load_class_images(dataset: ClassFolderDataset, indices: Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
    """Images of a dataset (all, or those at ``indices``) and their labels: ``[N, C, H, W]``, ``[N]``.

    With ``train=False`` datasets this is the deterministic view of each image.
    """
    items = [dataset[index] for index in (range(len(dataset)) if indices is None else indices)]
    if not items:
        size = dataset.config.image_size
        return torch.zeros(0, dataset.channels, size, size), torch.zeros(0, dtype=torch.long)
    return torch.stack([item["image"] for item in items]), torch.tensor([item["label"] for item in items])


def train_classifier(
    data: str | os.PathLike,
    config: ClassifierConfig,
    training: ClassifierTraining = ClassifierTraining(),
    device: str | torch.device = "cpu",
    on_progress: Callable[[int, float], None] | None = None,
) -> ImageClassifier:
    """Train a classifier on ``data``'s training images (``DATA/train/CLASS/*``, or ``DATA/CLASS/*``).

    Args:
        data: a folder per class, split into ``train/`` and ``test/`` or not.
        config: classes, size, channels, width.
        training: steps, batch size, learning rate, seed.
        device: where to train.
        on_progress: called with (step, loss) every 50 steps.

    Returns:
        The trained classifier, in eval mode.
    """
    if training.steps < 1 or training.batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {training.steps} and {training.batch_size}")
    torch.manual_seed(training.seed)
    classifier = ImageClassifier(config).to(device)
    dataset = ClassFolderDataset(data, config.classes, config.channels, data_config_for(data, config.classes))
    loader = DataLoader(
        dataset,
        batch_size=training.batch_size,
        sampler=ResumableSampler(len(dataset), training.seed),
        num_workers=training.workers,
        generator=torch.Generator().manual_seed(training.seed),
    )
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, training.steps) / training.steps))
    )
    classifier.train()
    batches = iter(loader)
    for step in range(1, training.steps + 1):
        batch = next(batches)
        loss = F.cross_entropy(classifier(batch["image"].to(device)), batch["label"].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if on_progress is not None and (step % 50 == 0 or step == training.steps):
            on_progress(step, loss.item())
    return classifier.eval()


def save_classifier(
    classifier: ImageClassifier, folder: str | os.PathLike, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` atomically (readers see the old folder or the new one)."""
    folder = Path(folder)
    document = {"kind": KIND, "format_version": FORMAT_VERSION, "config": to_dict(classifier.config)} | (extra or {})
    weights = {key: value.contiguous().cpu() for key, value in module_weights({"classifier": classifier}).items()}
    temporary = atomic_folder(folder)
    try:
        save_file(weights, str(temporary / WEIGHTS_FILE), metadata={"kind": KIND})
        (temporary / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        commit_folder(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return folder


def read_classifier_info(folder: str | os.PathLike) -> dict[str, Any]:
    """A classifier folder's ``config.json``, checked.

    Raises:
        CheckpointError: not a classifier folder, damaged, or of another format version.
    """
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{folder}: not a classifier folder (no {CONFIG_FILE}); train one with scripts/train_classifier.py"
        )
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: damaged ({error})") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        kind = document.get("kind") if isinstance(document, dict) else None
        raise CheckpointError(f"{path}: not a classifier (kind {kind!r})")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {version!r}; this version reads {FORMAT_VERSION}")
    return document


def load_classifier(folder: str | os.PathLike, device: str | torch.device = "cpu") -> ImageClassifier:
    """Load a classifier written by :func:`save_classifier`, in eval mode (nothing is unpickled)."""
    document = read_classifier_info(folder)
    try:
        config = from_dict(ClassifierConfig, document.get("config", {}), where=f"{folder}/{CONFIG_FILE}: config")
        classifier = ImageClassifier(config)
    except (ConfigError, ValueError) as error:
        raise CheckpointError(f"{folder}/{CONFIG_FILE}: {error}") from None
    load_module_weights({"classifier": classifier}, read_weights(Path(folder)), Path(folder) / WEIGHTS_FILE)
    return classifier.to(device).eval()


def class_folders(data: str | os.PathLike) -> list[str]:
    """The class folder names of ``DATA/train`` (or ``DATA``), sorted."""
    root = split_folder(Path(data), train=True)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


# ---------------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/train_classifier.py``: train on DATA/train, report held-out accuracy, save to --out."""
    parser = argparse.ArgumentParser(
        prog="train_classifier.py",
        description="Train the independent classifier that scores class fidelity, on real images only.",
    )
    parser.add_argument("--data", type=Path, required=True, help="a folder per class, in train/ and test/")
    parser.add_argument("--out", type=Path, required=True, help="classifier folder to write")
    parser.add_argument("--classes", help="comma-separated class names (default: every folder of DATA/train)")
    parser.add_argument("--image-size", type=int, default=32, help="side images are resized to")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3), help="1 for grey images, 3 for colour")
    parser.add_argument("--width", type=int, default=32, help="channels of the first convolution")
    defaults = ClassifierTraining()
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimisation steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="images per step")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="AdamW learning rate (cosine decay to zero)")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="AdamW weight decay")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="initialisation, data order, augmentation")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="data-loading worker processes")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        if args.classes:
            classes = tuple(name.strip() for name in args.classes.split(",") if name.strip())
        else:
            classes = tuple(class_folders(args.data))
        config = ClassifierConfig(classes, args.image_size, args.channels, args.width)
        training = ClassifierTraining(args.steps, args.batch_size, args.lr, args.weight_decay, args.seed, args.workers)
        if split_folder(args.data, train=False) == args.data:
            raise DatasetError(
                f"{args.data}: needs train/ and test/ (or val/) folders: "
                "the accuracy must be measured on held-out images"
            )
        started = time.monotonic()
        classifier = train_classifier(
            args.data, config, training, args.device,
            on_progress=lambda step, loss: print(f"step {step}/{training.steps}  loss {loss:.4f}", file=sys.stderr),
        )
        data_config = data_config_for(args.data, classes)
        held_out = ClassFolderDataset(args.data, classes, config.channels, data_config, train=False)
        accuracy = held_out_accuracy(classifier, *load_class_images(held_out))
    except (DatasetError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - started
    save_classifier(
        classifier,
        args.out,
        {
            "held_out": accuracy,
            "trained_on": str(args.data),
            "training": to_dict(training) | {"seconds": round(seconds, 1)},
        },
    )
    print(f"held-out accuracy {accuracy['accuracy']:.4f} on {accuracy['images']} images ({seconds:.0f} s); per class:")
    for name, value in accuracy["per_class"].items():
        print(f"  {name:<16} {value:.4f}  ({accuracy['images_per_class'][name]} images)")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
