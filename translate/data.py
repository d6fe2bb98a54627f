"""Datasets: paired images in either layout users have, transformed together with albumentations.

Every sample is drawn from a key ``(index, draw_seed)``: the sampler, not the worker process,
decides both which image and which random crop/flip, so a resumed run sees exactly the
samples the uninterrupted run would have seen, whatever the number of workers.

Images come out as float tensors in [0, 1]; pipelines map them to their networks' range.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from translate.config import option
from translate.imageio import (
    ImageReadError,
    bicubic_resize,
    is_image_file,
    list_images,
    load_image,
    to_8bit_levels,
)

# albumentations asks the internet for updates at import unless told not to.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import cv2  # noqa: E402

Preprocess = Literal["resize_and_crop", "crop", "scale_width", "none"]


class DatasetError(ValueError):
    """A dataset folder cannot be used; the message names the folder and the problem."""


_Item = TypeVar("_Item")


def _first_readable(read: Callable[[int], _Item], index: int, count: int, what: str, folder: Path) -> tuple[_Item, int]:
    """``read(index)``, or when it raises :class:`ImageReadError`, ``read`` of the next index (wrapping).

    The replacement is deterministic (the next item, not a random one), so resumed runs see the
    same samples; each skip is a warning: one bad file must not end hours of training.

    Args:
        read: loads item ``i`` of the dataset.
        index: the item asked for, in ``[0, count)``.
        count: items in the dataset.
        what: what an item is, for messages (``pair``, ``image``).
        folder: where the items are, for the error.

    Returns:
        What ``read`` returned and the index it was given.

    Raises:
        DatasetError: no item of the ``count`` reads.
    """
    for attempt in range(count):
        current = (index + attempt) % count
        try:
            return read(current), current
        except ImageReadError as error:
            print(f"warning: skipping unreadable {what}: {error}", file=sys.stderr)
    raise DatasetError(f"{folder}: no {what} could be read")


@dataclass(frozen=True)
class DataConfig:
    image_size: int = option(256, "training crop size (network depth follows it)")
    load_size: int = option(0, "resize before cropping; 0 = image_size * 286 / 256 (pix2pix's jitter)")
    preprocess: Preprocess = option("resize_and_crop", "resize_and_crop, crop, scale_width or none")
    flip: bool = option(True, "random horizontal flips, the same on both images of a pair")
    input_channels: int = option(3, "channels of the network input: 1 (grey), 3 (RGB) or 4 (RGBA)")
    output_channels: int = option(3, "channels of the network output: 1, 3 or 4")

    def resolved_load_size(self) -> int:
        return self.load_size or self.image_size * 286 // 256


@dataclass(frozen=True)
class Pair:
    """One training pair. ``b`` is None for an aligned image holding A|B side by side."""

    a: Path
    b: Path | None


def split_folder(root: Path, train: bool) -> Path:
    """The folder to read: ``root/train`` (or ``root/test``/``root/val`` when not training) if present."""
    names = ("train",) if train else ("test", "val")
    for name in names:
        if (root / name).is_dir():
            return root / name
    return root


def find_pairs(root: str | os.PathLike) -> tuple[list[Pair], str]:
    """Find pairs under ``root`` and say which layout they use.

    Layouts:
        - ``folders``: ``root/A`` and ``root/B``, files matched by relative path without
          extension (``A/x.jpg`` pairs with ``B/x.png``).
        - ``aligned``: images holding A (left half) and B (right half), the pix2pix convention.

    Raises:
        DatasetError: the folder is missing or holds no usable pairs.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    if (root / "A").is_dir() and (root / "B").is_dir():
        a_files = {_stem_key(p, root / "A"): p for p in list_images(root / "A")}
        b_files = {_stem_key(p, root / "B"): p for p in list_images(root / "B")}
        common = sorted(set(a_files) & set(b_files))
        unmatched = sorted(set(a_files) ^ set(b_files))
        if unmatched:
            print(
                f"warning: {root}: {len(unmatched)} file(s) in only one of A/ and B/ are ignored, "
                f"e.g. {unmatched[0]!r}",
                file=sys.stderr,
            )
        pairs = [Pair(a_files[k], b_files[k]) for k in common]
        layout = "folders"
    else:
        pairs = [Pair(p, None) for p in list_images(root)]
        layout = "aligned"
    if not pairs:
        raise DatasetError(
            f"{root}: no image pairs found; expected A/ and B/ folders with matching file names, "
            "or images holding A and B side by side"
        )
    return pairs, layout


def _stem_key(path: Path, folder: Path) -> str:
    return str(path.relative_to(folder).with_suffix(""))


def _probe(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None when its header reads fine."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with Image.open(path) as img:
            width, height = img.size
        if width < 1 or height < 1:
            return "image has no pixels"
    except Exception as error:  # noqa: BLE001 - any failure is a reason to skip the file
        return f"cannot read image ({error.__class__.__name__}: {error})"
    return None


def build_transform(
    config: DataConfig, train: bool, size_multiple: int = 1, additional_targets: dict[str, str] | None = None
) -> A.Compose:
    """The crop/resize/flip pipeline a :class:`DataConfig` describes.

    Args:
        config: preprocessing settings.
        train: random crops and flips when True; the deterministic centre view when False.
        size_multiple: for ``preprocess="none"``, sizes are cropped down to this multiple.
        additional_targets: further images transformed with the same draw (e.g. ``{"b": "image"}``).
    """
    size = config.image_size
    load = config.resolved_load_size()
    crop: type[A.RandomCrop] | type[A.CenterCrop] = A.RandomCrop if train else A.CenterCrop
    steps: list[Any] = []
    if config.preprocess == "resize_and_crop":
        steps += [A.Resize(load, load, interpolation=cv2.INTER_CUBIC), crop(size, size)]
    elif config.preprocess == "crop":
        steps += [crop(size, size, pad_if_needed=True)]
    elif config.preprocess == "scale_width":
        # Width to image_size, aspect kept; then a square crop (padded if too short).
        steps += [_ScaleWidth(size), crop(size, size, pad_if_needed=True)]
    elif config.preprocess == "none":
        steps += [_CropToMultiple(size_multiple)]
    else:
        raise DatasetError(f"unknown preprocess {config.preprocess!r}")
    if config.flip and train:
        steps.append(A.HorizontalFlip(p=0.5))
    return A.Compose(steps, additional_targets=additional_targets or {})


class PairedDataset(Dataset):
    """Aligned A/B pairs, cropped and flipped together.

    Args:
        root: the dataset folder (see :func:`find_pairs`; ``train/`` or ``test/`` is picked
            inside it when present).
        channels_a: channels to load A with (1, 3 or 4).
        channels_b: channels to load B with.
        config: preprocessing.
        train: random crops and flips when True; the deterministic centre view when False.
        size_multiple: for ``preprocess="none"``, sizes are cropped down to this multiple.

    Items are dicts ``{"a": [C_a, H, W], "b": [C_b, H, W], "index": int}`` in [0, 1].
    """

    def __init__(
        self,
        root: str | os.PathLike,
        channels_a: int,
        channels_b: int,
        config: DataConfig,
        train: bool = True,
        size_multiple: int = 1,
    ) -> None:
        self.root = split_folder(Path(root), train)
        self.channels_a = channels_a
        self.channels_b = channels_b
        self.config = config
        self.train = train
        self.size_multiple = size_multiple
        pairs, self.layout = find_pairs(self.root)
        self.skipped: list[tuple[Path, str]] = []
        usable = []
        for pair in pairs:
            reason = _probe(pair.a) or (_probe(pair.b) if pair.b is not None else None)
            if reason is None:
                usable.append(pair)
            else:
                bad = pair.a if _probe(pair.a) else pair.b
                self.skipped.append((bad, reason))  # type: ignore[arg-type]
                print(f"warning: skipping {bad}: {reason}", file=sys.stderr)
        if not usable:
            raise DatasetError(
                f"{self.root}: none of the {len(pairs)} pair(s) could be read "
                f"(first problem: {self.skipped[0][0]}: {self.skipped[0][1]})"
            )
        if self.skipped:
            print(f"warning: {self.root}: skipped {len(self.skipped)} unreadable file(s)", file=sys.stderr)
        self.pairs = usable
        self.transform = self._build_transform()

    def __len__(self) -> int:
        return len(self.pairs)

    def describe(self) -> dict[str, Any]:
        """What the model was trained on, for the checkpoint's config.json."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "pairs": len(self.pairs),
            "skipped": len(self.skipped),
        }

    def _build_transform(self) -> A.Compose:
        return build_transform(self.config, self.train, self.size_multiple, additional_targets={"b": "image"})

    def load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The untransformed pair as float32 HWC arrays in [0, 1]."""
        pair = self.pairs[index]
        if pair.b is None:
            both = load_image(pair.a, channels=max(self.channels_a, self.channels_b)).pixels
            width = both.shape[-1]
            if width % 2:
                raise ImageReadError(f"{pair.a}: an aligned A|B image needs an even width, got {width}")
            a = load_image_half(both[:, :, : width // 2], self.channels_a)
            b = load_image_half(both[:, :, width // 2 :], self.channels_b)
        else:
            a = load_image(pair.a, channels=self.channels_a).pixels
            b = load_image(pair.b, channels=self.channels_b).pixels
            if a.shape[-2:] != b.shape[-2:] and self.config.preprocess != "resize_and_crop":
                raise ImageReadError(
                    f"{pair.a} is {a.shape[-1]}×{a.shape[-2]} but {pair.b} is {b.shape[-1]}×{b.shape[-2]}; "
                    "pairs must match in size unless preprocess=resize_and_crop"
                )
            if a.shape[-2:] != b.shape[-2:]:
                b = torch.nn.functional.interpolate(b[None], size=a.shape[-2:], mode="bicubic", antialias=True)[0]
        return _hwc(a), _hwc(b)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | int]:
        index, draw_seed = key if isinstance(key, tuple) else (key, key)
        (a, b), current = _first_readable(self.load_pair, index, len(self.pairs), "pair", self.root)
        self.transform.set_random_seed(draw_seed)
        out = self.transform(image=a, b=b)
        return {"a": _chw(out["image"]), "b": _chw(out["b"]), "index": current}


class ClassFolderDataset(Dataset):
    """Images in a folder per class (``ROOT/CLASS/*.png``; ``train/``/``test/`` picked inside when present).

    Each item also names a target class, another class than its own (StarGAN-style translation),
    and carries the image of the same name in the target class's folder when there is one: the
    true drawing where classes are aligned (the same emoji in several styles), else zeros.

    Args:
        root: the dataset folder.
        classes: class names; a class's label is its position here. Every one needs a folder;
            folders not named are ignored (with a warning).
        channels: channels to load images with (1, 3 or 4).
        config: preprocessing (an image and its target get the same crop and flip).
        train: random crops, flips and target classes when True; a deterministic view and
            target (a class that has the aligned image, when one does) when False.
        size_multiple: for ``preprocess="none"``, sizes are cropped down to this multiple.

    Items are dicts ``{"image": [C, H, W], "label": int, "target_label": int, "target": [C, H, W],
    "has_target": bool, "index": int}``, images in [0, 1].

    Raises:
        DatasetError: no class names, a class without a folder (the message lists the folders
            there), or a class folder without readable images.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        classes: tuple[str, ...] | list[str],
        channels: int,
        config: DataConfig,
        train: bool = True,
        size_multiple: int = 1,
    ) -> None:
        self.root = split_folder(Path(root), train)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: no such folder")
        folders = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        found = ", ".join(folders) or "none"
        if not classes:
            raise DatasetError(f"{self.root}: no class names given; the class folders here are: {found}")
        missing = [name for name in classes if name not in folders]
        if missing:
            raise DatasetError(f"{self.root}: no folder for class {missing[0]!r}; the class folders here are: {found}")
        ignored = sorted(set(folders) - set(classes))
        if ignored:
            print(f"warning: {self.root}: folders not among the classes are ignored: {', '.join(ignored)}",
                  file=sys.stderr)
        self.classes = tuple(classes)
        self.channels = channels
        self.config = config
        self.train = train
        self.files: list[tuple[Path, int]] = []
        # Per class: file name without extension → file, to find the same image in another class.
        self.by_stem: list[dict[str, Path]] = []
        for label, name in enumerate(self.classes):
            paths = _readable_images(self.root / name)
            self.files += [(path, label) for path in paths]
            self.by_stem.append({_stem_key(path, self.root / name): path for path in paths})
        self.transform = build_transform(config, train, size_multiple, additional_targets={"target": "image"})

    def __len__(self) -> int:
        return len(self.files)

    def describe(self) -> dict[str, Any]:
        """What the model was trained on, for the checkpoint's config.json."""
        return {
            "root": str(self.root),
            "layout": "class_folders",
            "images_per_class": {name: len(stems) for name, stems in zip(self.classes, self.by_stem)},
        }

    def stem(self, index: int) -> str:
        """The name that aligns image ``index`` with its counterparts in the other classes."""
        path, label = self.files[index]
        return _stem_key(path, self.root / self.classes[label])

    def target_label(self, index: int, draw_seed: int) -> int:
        """The class image ``index`` is to be translated into (its own when there is only one class)."""
        label, count = self.files[index][1], len(self.classes)
        if count == 1:
            return label
        if self.train:
            return int((label + 1 + np.random.default_rng(draw_seed).integers(count - 1)) % count)
        # Held out: every other class in turn over the images, the first with the aligned image.
        order = [(label + 1 + (index + step) % (count - 1)) % count for step in range(count - 1)]
        stem = self.stem(index)
        return next((c for c in order if stem in self.by_stem[c]), order[0])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | int | bool]:
        index, draw_seed = key if isinstance(key, tuple) else (key, key)

        def read(current: int) -> tuple[Tensor, int, Tensor | None]:
            image = load_image(self.files[current][0], channels=self.channels).pixels
            target_label = self.target_label(current, draw_seed)
            target_path = self.by_stem[target_label].get(self.stem(current))
            target = load_image(target_path, channels=self.channels).pixels if target_path else None
            return image, target_label, target

        (image, target_label, target), current = _first_readable(read, index, len(self.files), "image", self.root)
        if target is not None and target.shape != image.shape:
            size = image.shape[-2:]
            target = torch.nn.functional.interpolate(target[None], size=size, mode="bicubic", antialias=True)[0]
        self.transform.set_random_seed(draw_seed)
        out = self.transform(image=_hwc(image), target=_hwc(target if target is not None else torch.zeros_like(image)))
        return {
            "image": _chw(out["image"]),
            "label": self.files[current][1],
            "target_label": target_label,
            "target": _chw(out["target"]),
            "has_target": target is not None,
            "index": current,
        }


def load_image_half(pixels: Tensor, channels: int) -> Tensor:
    """Reduce one half of an aligned image (loaded with the larger channel count) to ``channels``."""
    if pixels.shape[0] == channels:
        return pixels
    if channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114])[:, None, None]
        return (pixels[:3] * weights).sum(0, keepdim=True)
    if channels == 3:
        return pixels[:3] if pixels.shape[0] >= 3 else pixels.expand(3, -1, -1)
    raise ImageReadError(f"cannot make {channels} channels from {pixels.shape[0]}")


def _hwc(chw: Tensor) -> np.ndarray:
    return np.ascontiguousarray(chw.permute(1, 2, 0).numpy().astype(np.float32))


def _chw(hwc: np.ndarray) -> Tensor:
    if hwc.ndim == 2:
        hwc = hwc[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1))).clamp_(0, 1)


class _ScaleWidth(A.ImageOnlyTransform):
    """Resize so the width equals ``width``, keeping the aspect ratio (pix2pix's scale_width)."""

    def __init__(self, width: int) -> None:
        super().__init__(p=1.0)
        self.width = width

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        height = max(1, round(img.shape[0] * self.width / img.shape[1]))
        resized = cv2.resize(img, (self.width, height), interpolation=cv2.INTER_CUBIC)
        return resized if resized.ndim == img.ndim else resized[:, :, None]


class _CropToMultiple(A.ImageOnlyTransform):
    """Crop the bottom/right so height and width are multiples of the network's need."""

    def __init__(self, multiple: int) -> None:
        super().__init__(p=1.0)
        self.multiple = max(1, multiple)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        height = img.shape[0] // self.multiple * self.multiple
        width = img.shape[1] // self.multiple * self.multiple
        if height == 0 or width == 0:
            raise ImageReadError(f"image of {img.shape[1]}×{img.shape[0]} is smaller than {self.multiple} pixels")
        return img[:height, :width]


class ResumableSampler(Sampler):
    """An endless stream of ``(index, draw_seed)`` keys, reshuffled each epoch from ``seed``.

    Sample ``k`` of the run is the same whether the run was interrupted or not: its index
    comes from the permutation of epoch ``k // n`` and its draw seed from ``(seed, k)``.
    Under DDP, rank ``r`` of ``w`` takes samples ``k ≡ r (mod w)``.
    """

    def __init__(self, size: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.size = size
        self.seed = seed
        self.start = start
        self.rank = rank
        self.world_size = world_size

    def _permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        k = self.start * self.world_size + self.rank
        epoch, order = -1, []
        while True:
            if k // self.size != epoch:
                epoch = k // self.size
                order = self._permutation(epoch)
            draw_seed = (self.seed * 2_654_435_761 + k) % (2**32)
            yield order[k % self.size], draw_seed
            k += self.world_size


def find_unpaired(
    root: str | os.PathLike, train: bool, domains: tuple[str, str] | None = None
) -> tuple[Path, Path]:
    """The two domain folders of an unpaired set, in any of the layouts users have.

    Layouts:
        - ``root/train/A`` and ``root/train/B`` (``test/`` or ``val/`` when not training),
          or ``root/A`` and ``root/B`` directly;
        - ``root/trainA`` and ``root/trainB`` (``testA``/``testB`` or ``valA``/``valB``), as
          pytorch-CycleGAN-and-pix2pix's horse2zebra and friends unpack;
        - with ``domains`` named (e.g. ``("horse", "zebra")``), folders of those names in the
          split, as in a folder-per-class set: ``root/train/horse`` and ``root/train/zebra``.
          A and B come first when both layouts are there.

    Raises:
        DatasetError: no layout is there; the message says what was looked for.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    split = split_folder(root, train)
    if (split / "A").is_dir() and (split / "B").is_dir():
        return split / "A", split / "B"
    for name in ("train",) if train else ("test", "val"):
        if (root / f"{name}A").is_dir() and (root / f"{name}B").is_dir():
            return root / f"{name}A", root / f"{name}B"
    # Names other than A and B (the default names, looked for above already).
    named = domains is not None and domains[0] != domains[1] and set(domains) != {"A", "B"}
    if named and (split / domains[0]).is_dir() and (split / domains[1]).is_dir():
        return split / domains[0], split / domains[1]
    which = "train" if train else "test"
    looked_for = f"{which}/A and {which}/B, A and B, or {which}A and {which}B folders of images"
    if named:
        looked_for += f", or {which}/{domains[0]} and {which}/{domains[1]} (the domains' names)"
    raise DatasetError(f"{root}: no unpaired domains found; expected {looked_for}")


def _readable_images(folder: Path) -> list[Path]:
    """The images under ``folder`` whose headers read, warning about each one skipped."""
    usable = []
    for path in list_images(folder):
        reason = _probe(path)
        if reason is None:
            usable.append(path)
        else:
            print(f"warning: skipping {path}: {reason}", file=sys.stderr)
    if not usable:
        raise DatasetError(f"{folder}: no readable images")
    return usable


class UnpairedDataset(Dataset):
    """Two domains of different sizes, sampled independently (CycleGAN's data).

    Sample ``(index, draw_seed)`` takes A's image ``index`` (modulo its size) and a B image
    chosen by ``draw_seed``, so each epoch pairs every A image with a fresh random B image, and
    a resumed run still sees exactly the uninterrupted run's samples. Each image gets its own
    crop and flip. Held-out (``train=False``) samples pair A and B by position, and say
    whether the two are the same scene (``paired``: matching file names, as when an aligned
    set is used unpaired), so the truth can score the translation.

    Items are dicts ``{"a": [C_a, H, W], "b": [C_b, H, W], "index": int, "paired": bool}`` in [0, 1].
    """

    def __init__(
        self,
        root: str | os.PathLike,
        channels_a: int,
        channels_b: int,
        config: DataConfig,
        train: bool = True,
        size_multiple: int = 1,
        domains: tuple[str, str] | None = None,
    ) -> None:
        self.folder_a, self.folder_b = find_unpaired(root, train, domains)
        self.root = self.folder_a.parent
        self.channels_a = channels_a
        self.channels_b = channels_b
        self.config = config
        self.train = train
        self.files_a = _readable_images(self.folder_a)
        self.files_b = _readable_images(self.folder_b)
        self.transform = build_transform(config, train, size_multiple)

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def describe(self) -> dict[str, Any]:
        """What the model was trained on, for the checkpoint's config.json."""
        return {
            "root": str(self.root),
            "layout": "unpaired",
            "images_a": len(self.files_a),
            "images_b": len(self.files_b),
        }

    def _load(self, files: list[Path], folder: Path, index: int, channels: int) -> tuple[np.ndarray, int]:
        """Image ``index`` of one domain (or the next readable one) as HWC, and its index."""

        def read(current: int) -> np.ndarray:
            return _hwc(load_image(files[current], channels=channels).pixels)

        return _first_readable(read, index, len(files), "image", folder)

    def _view(self, image: np.ndarray, seed: int) -> Tensor:
        self.transform.set_random_seed(seed)
        return _chw(self.transform(image=image)["image"])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | int | bool]:
        index, draw_seed = key if isinstance(key, tuple) else (key, key)
        if self.train:
            index_b = int(np.random.default_rng(draw_seed).integers(len(self.files_b)))
        else:
            index_b = index % len(self.files_b)
        a, index_a = self._load(self.files_a, self.folder_a, index % len(self.files_a), self.channels_a)
        b, index_b = self._load(self.files_b, self.folder_b, index_b, self.channels_b)
        paired = _stem_key(self.files_a[index_a], self.folder_a) == _stem_key(self.files_b[index_b], self.folder_b)
        return {
            "a": self._view(a, draw_seed),
            "b": self._view(b, (draw_seed + 1) % 2**32),
            "index": index_a,
            "paired": paired,
        }


# ---------------------------------------------------------------------------------- super-resolution
@dataclass(frozen=True)
class HighResDataConfig:
    image_size: int = option(96, "side of the high-resolution training crops (SRGAN: 96); inputs: image_size / scale")
    val_image_size: int = option(
        0, "side of the centre crops validation scores (0 = image_size); larger crops read closer to translate eval"
    )
    channels: int = option(3, "image channels, in and out: 1 (grey) or 3 (RGB)")
    flip: bool = option(True, "random flips and 90° rotations of the crops (the 8 symmetries of a square)")
    blur: float = option(0.0, "probability of a Gaussian blur of the high-resolution crop before downscaling")
    blur_sigma: tuple[float, float] = option((0.2, 3.0), "range of the blur's standard deviation, in high-res pixels")
    noise: float = option(0.0, "probability of Gaussian noise on the low-resolution image")
    noise_std: tuple[float, float] = option((0.0, 0.04), "range of the noise's standard deviation ([0, 1] pixels)")
    jpeg: float = option(0.0, "probability of JPEG compression of the low-resolution image")
    jpeg_quality: tuple[int, int] = option((30, 95), "range of the JPEG quality")


class HighResolutionDataset(Dataset):
    """Crops of high-resolution images, each with a low-resolution input made on the fly.

    The input is the crop downscaled by ``scale`` with antialiased bicubic
    (:func:`translate.imageio.bicubic_resize`, as ``translate data build lowres`` and the
    super-resolution evaluation make theirs) and rounded to 8-bit levels like a stored file.
    Optional real-world degradations (albumentations): a Gaussian blur of the crop before
    downscaling, then Gaussian noise and JPEG compression of the small image. Every random
    draw (crop, symmetry, degradations) comes from the sample's draw seed.

    Args:
        root: a folder of high-resolution images (``train/`` or ``test/`` is picked inside it
            when present); in an ``A/`` + ``B/`` pair folder (``translate data build lowres``)
            the high-resolution ``B/`` side is read.
        scale: the downscaling factor; ``config.image_size`` (and ``val_image_size``) must be a
            multiple of it.
        config: crop size, channels, symmetries and degradations.
        train: random crops and symmetries when True; the centre crop when False, of
            ``config.val_image_size`` when set (degradations, if any, are then drawn from the
            image index, the same at every validation).

    Items are dicts ``{"a": [C, s / scale, s / scale], "b": [C, s, s], "index": int}`` in [0, 1],
    ``s = crop_size`` (``config.image_size``, or ``val_image_size`` when set and not ``train``):
    ``a`` the low-resolution input, ``b`` the high-resolution target.
    """

    def __init__(self, root: str | os.PathLike, scale: int, config: HighResDataConfig, train: bool = True) -> None:
        sizes = {"data.image_size": config.image_size}
        if config.val_image_size:
            sizes["data.val_image_size"] = config.val_image_size
        for key, size in sizes.items():
            if scale < 1 or size < scale or size % scale:
                raise DatasetError(f"{key} {size} must be a positive multiple of the scale {scale}")
        crop_key = "data.val_image_size" if (not train and config.val_image_size) else "data.image_size"
        self.crop_size = sizes[crop_key]
        if config.channels not in (1, 3):
            raise DatasetError(f"data.channels must be 1 or 3, got {config.channels}")
        self.root = split_folder(Path(root), train)
        paired = (self.root / "A").is_dir() and (self.root / "B").is_dir()
        self.folder = self.root / "B" if paired else self.root
        self.scale = scale
        self.config = config
        self.train = train
        if not self.folder.is_dir():
            raise DatasetError(f"{self.folder}: no such folder")
        self.skipped: list[tuple[Path, str]] = []
        self.files: list[Path] = []
        for path in list_images(self.folder):
            reason = _too_small(path, self.crop_size, crop_key)
            if reason is None:
                self.files.append(path)
            else:
                self.skipped.append((path, reason))
                print(f"warning: skipping {path}: {reason}", file=sys.stderr)
        if not self.files:
            detail = f" (first problem: {self.skipped[0][0]}: {self.skipped[0][1]})" if self.skipped else ""
            raise DatasetError(f"{self.folder}: no usable high-resolution images{detail}")
        size = self.crop_size
        crop: list[Any] = [A.RandomCrop(size, size) if train else A.CenterCrop(size, size)]
        if train and config.flip:
            crop += [A.HorizontalFlip(p=0.5), A.RandomRotate90(p=1.0)]
        self.crop = A.Compose(crop)
        self.blur = A.Compose([A.GaussianBlur(blur_limit=0, sigma_limit=config.blur_sigma, p=config.blur)])
        self.degrade = A.Compose(
            [
                A.GaussNoise(std_range=config.noise_std, p=config.noise),
                A.ImageCompression(quality_range=config.jpeg_quality, p=config.jpeg),
            ]
        )

    def __len__(self) -> int:
        return len(self.files)

    def describe(self) -> dict[str, Any]:
        """What the model was trained on, for the checkpoint's config.json."""
        return {
            "root": str(self.folder),
            "layout": "high-resolution",
            "images": len(self.files),
            "skipped": len(self.skipped),
        }

    def _load(self, index: int) -> tuple[np.ndarray, int]:
        """Image ``index`` (or the next readable one) as HWC, and its index."""

        def read(current: int) -> np.ndarray:
            return _hwc(load_image(self.files[current], channels=self.config.channels).pixels)

        return _first_readable(read, index, len(self.files), "image", self.folder)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor | int]:
        index, draw_seed = key if isinstance(key, tuple) else (key, key)
        image, current = self._load(index)
        self.crop.set_random_seed(draw_seed)
        high = self.crop(image=image)["image"]
        # Separate streams per stage, so turning a degradation on leaves the crops unchanged.
        self.blur.set_random_seed((draw_seed + 1) % 2**32)
        blurred = _chw(self.blur(image=high)["image"])
        size = self.crop_size // self.scale
        low = _hwc(bicubic_resize(blurred, (size, size)))
        self.degrade.set_random_seed((draw_seed + 2) % 2**32)
        low = to_8bit_levels(_chw(self.degrade(image=low)["image"]))
        return {"a": low, "b": _chw(high), "index": current}


def _too_small(path: Path, size: int, key: str = "data.image_size") -> str | None:
    """Why ``path`` cannot give a ``size``-pixel crop (unreadable or too small), or None; ``key``
    names the setting the size comes from."""
    reason = _probe(path)
    if reason is not None:
        return reason
    with Image.open(path) as image:
        width, height = image.size
    if min(width, height) < size:
        return f"{width}×{height} is smaller than the {size}-pixel crop ({key})"
    return None
