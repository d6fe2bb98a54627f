"""What every data-set builder shares: the output folder, splits, names, colours and the summary.

A build writes into a hidden temporary folder beside its destination and renames it into place
at the end, so an interrupted build leaves nothing half-written where a training would look.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ImageColor
from torch import Tensor

from translate.data import DatasetError
from translate.imageio import atomic_folder, commit_folder

METADATA_FILE = "metadata.json"
SPLITS = ("train", "test")

# Called as progress(done, total) while a builder works; the CLI draws a bar with it.
Progress = Callable[[int, int], None]


@dataclass
class BuildSummary:
    """What a build wrote.

    Attributes:
        kind: the builder (``edges``, ``emoji``, ``animals``...).
        out: the folder written.
        counts: items written per split (pairs for paired sets, images for class folders).
        skipped: ``(file or item, reason)`` for every source item left out.
        seconds: wall time of the build.
        details: per-split extra counts worth printing (e.g. images per emoji style).
    """

    kind: str
    out: Path
    counts: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    details: dict[str, dict[str, int]] = field(default_factory=dict)

    def describe(self) -> str:
        """A few human-readable lines: counts per split, skips and time."""
        splits = ", ".join(f"{split} {count}" for split, count in self.counts.items())
        lines = [f"built {self.kind} in {self.out}: {splits} ({self.seconds:.1f} s)"]
        for split, counts in self.details.items():
            lines.append(f"  {split}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} (first: {self.skipped[0][0]}: {self.skipped[0][1]})")
        return "\n".join(lines)


def warn(message: str) -> None:
    """A warning on stderr, in the project's ``warning: ...`` form."""
    print(f"warning: {message}", file=sys.stderr)


def warn_empty_splits(counts: dict[str, int], out: Path) -> None:
    """Say so when a split got nothing (a tiny source, or its only test image unreadable)."""
    for split, count in counts.items():
        if count == 0:
            warn(f"{out}: the {split} split is empty")


def check_output(out: Path, overwrite: bool, source: Path | None = None) -> None:
    """Refuse an output that would destroy data: a non-empty folder without ``overwrite``, or the source.

    Raises:
        DatasetError: the message names the folder and the problem.
    """
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DatasetError(f"{out}: output folder exists and is not empty; pass --overwrite to replace it")
        if not (out / METADATA_FILE).is_file():
            # --overwrite replaces an earlier build, never a folder of the user's own files.
            raise DatasetError(
                f"{out}: not a data set built by translate (no {METADATA_FILE}); --overwrite only "
                "replaces an earlier build: remove the folder yourself or choose another"
            )
    if source is not None:
        out_abs, source_abs = out.resolve(), source.resolve()
        # Replacing a folder that holds the source (or writing into it) would lose or re-read images.
        if out_abs == source_abs or source_abs in out_abs.parents or out_abs in source_abs.parents:
            raise DatasetError(f"{out}: output folder must be outside the source folder {source} and not contain it")


@contextmanager
def staged_output(out: Path, overwrite: bool, source: Path | None = None) -> Iterator[Path]:
    """Build into a temporary sibling of ``out`` and move it into place when the body succeeds.

    Args:
        out: the destination folder.
        overwrite: replace a non-empty ``out``.
        source: the folder read from, which ``out`` must not overlap.

    Yields:
        The temporary folder to write into.
    """
    check_output(out, overwrite, source)
    temporary = atomic_folder(out)
    try:
        yield temporary
        commit_folder(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def write_metadata(folder: Path, document: dict[str, Any]) -> None:
    """Write ``folder/metadata.json``: how the set was built and what it holds (paths as strings)."""
    (folder / METADATA_FILE).write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


def recorded_options(options: Any) -> dict[str, Any]:
    """A builder's options dataclass as written to ``metadata.json``: what shapes the data, not ``overwrite``."""
    values = asdict(options)
    values.pop("overwrite", None)
    return values


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def hash_fraction(text: str) -> float:
    """``text`` mapped to [0, 1) by :func:`stable_hash`: a split that needs no list of the others."""
    return stable_hash(text) / 2**64


def held_out_indices(count: int, test_fraction: float, rng: np.random.Generator) -> set[int]:
    """Which of ``count`` items are held out: ``round(count * test_fraction)`` drawn by ``rng``.

    At least one item goes to each side when ``0 < test_fraction < 1`` and ``count >= 2``, so a
    small source still gets a (tiny) test split and a training split.
    """
    if not 0 <= test_fraction < 1:
        raise DatasetError(f"test fraction must be in [0, 1), got {test_fraction}")
    held_out = round(count * test_fraction)
    if test_fraction > 0 and count >= 2:
        held_out = min(max(held_out, 1), count - 1)
    return {int(i) for i in rng.permutation(count)[:held_out]}


def slugify(text: str) -> str:
    """``"GRINNING FACE"`` → ``"grinning-face"``: lower case, runs of other characters → ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def parse_colour(name: str) -> tuple[int, int, int]:
    """A colour name or ``#rrggbb`` as 8-bit RGB.

    Raises:
        DatasetError: Pillow does not know the colour.
    """
    try:
        rgb = ImageColor.getrgb(name)
    except ValueError:
        raise DatasetError(f"unknown colour {name!r}; use a name like white or a hex code like #ffffff") from None
    return rgb[0], rgb[1], rgb[2]


def flatten(pixels: Tensor, alpha: Tensor | None, background: tuple[int, int, int]) -> Tensor:
    """Composite ``pixels`` ``[3, H, W]`` with ``alpha`` ``[1, H, W]`` (or None) onto an 8-bit RGB colour."""
    if alpha is None:
        return pixels
    colour = torch.tensor(background, dtype=pixels.dtype)[:, None, None] / 255
    return pixels * alpha + colour * (1 - alpha)


