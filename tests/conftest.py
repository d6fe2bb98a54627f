"""Shared fixtures: tiny configs and tiny real image folders, all on the CPU with fixed seeds."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translate.config import apply_overrides
from translate.pipelines.pix2pix import Pix2PixConfig

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))

TINY_PIX2PIX = (
    "data.image_size=32",
    "data.preprocess=crop",
    "generator.ngf=8",
    "discriminator.ndf=8",
    "discriminator.n_layers=2",
)


def load_script(name: str):
    """A module of scripts/ (``load_script("ship_checkpoint")``), loaded once by file path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def tiny_pix2pix_config(*extra: str) -> Pix2PixConfig:
    return apply_overrides(Pix2PixConfig(), list(TINY_PIX2PIX) + list(extra))


def make_pair_arrays(count: int, size: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs (A, B): A is a random smooth colour blob picture, B its colour inverse.

    A learnable, deterministic mapping, so a tiny model can overfit it.
    """
    rng = np.random.default_rng(seed)
    pairs = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for _ in range(count):
        a = np.zeros((size, size, 3))
        for channel in range(3):
            cx, cy, r = rng.uniform(0.2, 0.8, size=3)
            a[..., channel] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.1 * r))
        a = (a * 255).astype(np.uint8)
        pairs.append((a, 255 - a))
    return pairs


@pytest.fixture
def paired_folder(tmp_path: Path) -> Path:
    """``A/`` and ``B/`` folders with 6 matching 32×32 pairs."""
    root = tmp_path / "pairs"
    for index, (a, b) in enumerate(make_pair_arrays(6, 32)):
        for side, array in (("A", a), ("B", b)):
            (root / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / side / f"img{index:02d}.png")
    return root


@pytest.fixture
def aligned_folder(tmp_path: Path) -> Path:
    """pix2pix-style A|B images with train/ and test/ splits."""
    root = tmp_path / "aligned"
    for split, count, seed in (("train", 6, 0), ("test", 2, 1)):
        (root / split).mkdir(parents=True)
        for index, (a, b) in enumerate(make_pair_arrays(count, 32, seed)):
            Image.fromarray(np.concatenate([a, b], axis=1)).save(root / split / f"{index:02d}.png")
    return root
