"""Datasets: paired images in either layout users have, transformed together with albumentations.

Every sample is drawn from a key ``(index, draw_seed)``: the sampler, not the worker process,
decides both which image and which random crop/flip, so a resumed run sees exactly the
samples the uninterrupted run would have seen, whatever the number of workers.

Images come out as float tensors in [0, 1]; pipelines map them to their networks' range.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from translate.config import option
from translate.imageio import ImageReadError, is_image_file, list_images, load_image

# albumentations asks the internet for updates at import unless told not to.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import cv2  # noqa: E402

Preprocess = Literal["resize_and_crop", "crop", "scale_width", "none"]


class DatasetError(ValueError):
    """A dataset folder cannot be used; the message names the folder and the problem."""


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
        cfg = self.config
        size = cfg.image_size
        load = cfg.resolved_load_size()
        crop: type[A.RandomCrop] | type[A.CenterCrop] = A.RandomCrop if self.train else A.CenterCrop
        steps: list[Any] = []
        if cfg.preprocess == "resize_and_crop":
            steps += [A.Resize(load, load, interpolation=cv2.INTER_CUBIC), crop(size, size)]
        elif cfg.preprocess == "crop":
            steps += [crop(size, size, pad_if_needed=True)]
        elif cfg.preprocess == "scale_width":
            # Width to image_size, aspect kept; then a square crop (padded if too short).
            steps += [_ScaleWidth(size), crop(size, size, pad_if_needed=True)]
        elif cfg.preprocess == "none":
            steps += [_CropToMultiple(self.size_multiple)]
        else:
            raise DatasetError(f"unknown preprocess {cfg.preprocess!r}")
        if cfg.flip and self.train:
            steps.append(A.HorizontalFlip(p=0.5))
        return A.Compose(steps, additional_targets={"b": "image"})

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
        for attempt in range(len(self.pairs)):
            current = (index + attempt) % len(self.pairs)
            try:
                a, b = self.load_pair(current)
                break
            except ImageReadError as error:
                # Reported and replaced deterministically by the next pair: one bad file must not
                # end hours of training.
                print(f"warning: skipping unreadable pair: {error}", file=sys.stderr)
        else:
            raise DatasetError(f"{self.root}: no pair could be read")
        self.transform.set_random_seed(draw_seed)
        out = self.transform(image=a, b=b)
        return {"a": _chw(out["image"]), "b": _chw(out["b"]), "index": current}


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
