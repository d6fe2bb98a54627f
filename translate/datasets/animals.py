"""Animal-MNIST (PyPI ``animal-mnist``) as a folder per class: ``OUT/{train,test}/CLASS/NNNNN.png``.

The package ships 10,000 greyscale 28×28 silhouettes (10 classes × 1,000) as gzipped pickles.
Its own loader imports tensorflow, and a pickle can run any code when loaded, so the files are
read here with an unpickler that builds numpy arrays and nothing else.
"""

from __future__ import annotations

import gzip
import pickle
import re
import time
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translate.data import DatasetError
from translate.datasets.common import (
    SPLITS,
    BuildSummary,
    Progress,
    held_out_indices,
    recorded_options,
    staged_output,
    warn,
    write_metadata,
)
from translate.imageio import bicubic_resize, save_image

DATA_FILE = "animal_data_version_3.gz"
LABEL_FILE = "animal_label_version_3.gz"


class UnsafePickleError(DatasetError):
    """A pickle asked for something other than a plain numpy array; the message names the file."""


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals an array pickle needs: the array and dtype types and numpy's rebuild function."""
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    # Pickles name the module that wrote them: numpy.core before numpy 2, numpy._core after.
    return {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self.path = path
        self.allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise UnsafePickleError(
                f"{self.path}: refusing to load {module}.{name}; only numpy arrays are accepted in this file"
            )
        return self.allowed[(module, name)]


def load_numpy_pickle(path: Path) -> np.ndarray:
    """Read a (gzipped) pickle that holds one numpy array, refusing anything else before it runs.

    Args:
        path: a ``.gz`` or plain pickle file.

    Returns:
        The array (never of object dtype).

    Raises:
        UnsafePickleError: the pickle refers to anything but numpy's array machinery, or holds
            something other than a numeric array.
        DatasetError: the file is missing or damaged.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            value = _NumpyOnlyUnpickler(handle, path).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise DatasetError(f"{path}: damaged pickle ({error.__class__.__name__}: {error})") from None
    if not isinstance(value, np.ndarray) or value.dtype.hasobject:
        # An object array would hold arbitrary Python objects; a bare list or dict is not what we read.
        kind = f"array of {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise UnsafePickleError(f"{path}: expected a numeric numpy array, found {kind}")
    return value


def animal_mnist_folder() -> Path:
    """Where the installed ``animal-mnist`` package keeps its data files.

    Raises:
        DatasetError: the package is not installed (the message says how to install it).
    """
    # find_spec locates the package without importing it (its modules import tensorflow).
    spec = find_spec("animal_mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("animal-mnist is not installed; install it with: pip install --no-deps animal-mnist")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal_MNIST"


def animal_class_names(count: int) -> list[str]:
    """Class names for labels ``0 .. count - 1``, from the package description.

    The description lists the classes alphabetically ("including Bear, Bird, Cat, ...") and the
    labels follow that order (checked by eye on the silhouettes). Falls back to ``class_N``.
    """
    try:
        description = metadata.metadata("animal_mnist").get_payload() or ""  # type: ignore[attr-defined]
    except metadata.PackageNotFoundError:
        description = ""
    found = re.search(r"\(including ([^)]*)\)", description)
    names = [name.strip().lower() for name in found.group(1).split(",")] if found else []
    if len(names) < count:
        warn(f"animal-mnist's description names {len(names)} classes for {count} labels; using class_N folders")
        return [f"class_{label}" for label in range(count)]
    return names[:count]


@dataclass(frozen=True)
class AnimalOptions:
    """How the silhouettes are written.

    Attributes:
        size: output side; 28 keeps the originals, larger upscales (antialiased bicubic).
        test_fraction: share of each class held out, drawn from ``seed``.
        seed: the split's seed.
        source: folder holding the two pickles; None for the installed package's.
        overwrite: replace a non-empty output folder.
    """

    size: int = 28
    test_fraction: float = 0.1
    seed: int = 0
    source: Path | None = None
    overwrite: bool = False


def load_animals(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, H, W]`` uint8 and integer labels ``[N]`` from the two pickles in ``folder``.

    Raises:
        DatasetError: a file is missing, unsafe, or the arrays do not fit together.
    """
    images, labels = load_numpy_pickle(folder / DATA_FILE), load_numpy_pickle(folder / LABEL_FILE)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"{folder / DATA_FILE}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}")
    if labels.shape != images.shape[:1] or labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        expected = f"expected {len(images)} non-negative integer labels"
        raise DatasetError(f"{folder / LABEL_FILE}: {expected}, got {labels.dtype} {labels.shape}")
    return images, labels


def build_animals(out: Path, options: AnimalOptions, progress: Progress | None = None) -> BuildSummary:
    """Write Animal-MNIST as ``out/{train,test}/CLASS/NNNNN.png`` (NNNNN = index in the source).

    Each class is split on its own, so both splits keep the class balance.

    Raises:
        DatasetError: package or files missing, an unsafe pickle, bad options, or an existing output.
    """
    started = time.perf_counter()
    if options.size < 1:
        raise DatasetError(f"--size must be positive, got {options.size}")
    folder = options.source or animal_mnist_folder()
    images, labels = load_animals(folder)
    names = animal_class_names(int(labels.max()) + 1 if labels.size else 0)
    rng = np.random.default_rng(options.seed)
    counts = dict.fromkeys(SPLITS, 0)
    per_class = {split: dict.fromkeys(names, 0) for split in SPLITS}
    with staged_output(out, options.overwrite, options.source) as staging:
        for label, name in enumerate(names):
            members = np.flatnonzero(labels == label)
            held_out = held_out_indices(len(members), options.test_fraction, rng)
            for position, index in enumerate(members):
                split = "test" if position in held_out else "train"
                pixels = torch.from_numpy(images[index]).float()[None] / 255  # [1, H, W]
                if pixels.shape[-1] != options.size or pixels.shape[-2] != options.size:
                    pixels = bicubic_resize(pixels, (options.size, options.size))
                save_image(pixels, staging / split / name / f"{index:05d}.png")
                counts[split] += 1
                per_class[split][name] += 1
                if progress is not None:
                    progress(sum(counts.values()), len(images))
        write_metadata(
            staging,
            {
                "kind": "animals",
                "source": str(folder),
                "options": recorded_options(options),
                "classes": names,
                "images": counts,
                "images_per_class": per_class,
            },
        )
    return BuildSummary("animals", out, counts, [], time.perf_counter() - started, per_class)
