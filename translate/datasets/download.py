"""``translate data download NAME``: the standard public sets, fetched, checked and unpacked.

Each :class:`Recipe` names its archives (public URL, approximate size, SHA-256 where one is
known) and where their folders go, so that the result is a layout :mod:`translate.data` reads:

    paired (pix2pix's A|B images)   OUT/train/*.jpg, OUT/val/*.jpg (and OUT/test/)
    unpaired (CycleGAN's)           OUT/trainA, OUT/trainB, OUT/testA, OUT/testB
    images (DIV2K's HR photos)      OUT/train/*.png, OUT/val/*.png (super-resolution: the low-
                                    resolution inputs are made from these)

How a download stays safe:
    - it is written to ``CACHE/FILE.part`` and resumed with an HTTP Range request, within a run
      after a dropped connection and across runs after an interruption;
    - a complete file is checked against its SHA-256. None of the publishers below publishes
      one, and a hash cannot be learnt offline, so those recipes say ``sha256=None``: the size the
      server announces and the archive's own CRCs (zip members, the gzip stream) are checked
      instead, and the computed SHA-256 is printed and kept in ``metadata.json`` so it can be
      pinned next time with ``--sha256``;
    - archives are unpacked into a hidden folder beside the destination, member names that would
      land outside it are refused (and links, devices... by tarfile's ``data`` filter), and the
      folder is renamed into place only when complete: nothing half-unpacked is ever left.

``--mirror URL`` (or ``$TRANSLATE_DATA_MIRROR``) replaces the part of every URL before the file
name: a local copy of the files, or the test server.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import shutil
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from translate import __version__
from translate.data import DatasetError
from translate.datasets.common import Progress, check_output, staged_output, write_metadata
from translate.imageio import file_sha256, list_images

MIRROR_ENV = "TRANSLATE_DATA_MIRROR"
PART_SUFFIX = ".part"
CACHE_FOLDER = ".downloads"
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MB = 1_000_000


class DownloadError(DatasetError):
    """A download, a checksum or an archive failed; the message names the URL or file and what to do."""


class DamagedArchiveError(DownloadError):
    """An archive is damaged or unsafe to unpack; it is deleted, since resuming cannot repair it."""


class _Interrupted(Exception):
    """A transfer stopped early (connection lost, timeout, server error): worth resuming."""


# ---------------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class Archive:
    """One file of a recipe.

    Attributes:
        url: where the publisher serves it.
        approx_mb: its size in MB as the server's listing shows it, for ``--list`` only; the
            download checks the size the server announces, not this.
        sha256: its SHA-256 when known; None when no checksum is published (see the module doc).
        moves: ``(folder in the archive, folder in the data set)``; ``""`` is the data set itself.
    """

    url: str
    approx_mb: float
    sha256: str | None
    moves: tuple[tuple[str, str], ...]

    @property
    def file_name(self) -> str:
        return PurePosixPath(urlsplit(self.url).path).name


@dataclass(frozen=True)
class Recipe:
    """A data set that ``translate data download`` knows.

    Attributes:
        name: what the user types.
        layout: ``paired`` (A|B images), ``unpaired`` (trainA/trainB...) or ``images`` (one domain).
        description: one line on what it holds.
        archives: the files to fetch (empty for ``manual`` recipes).
        expect: folders that must hold images once unpacked.
        source: the publisher's page.
        licence: the terms, in a few words; read the source before use.
        notes: how to train on it, quirks.
        manual: when there is no public download: what to do instead (printed as the error).
    """

    name: str
    layout: Literal["paired", "unpaired", "images"]
    description: str
    archives: tuple[Archive, ...]
    expect: tuple[str, ...]
    source: str
    licence: str
    notes: str = ""
    manual: str = ""

    @property
    def approx_mb(self) -> float:
        return sum(archive.approx_mb for archive in self.archives)


RECIPES: dict[str, Recipe] = {}
ALIASES = {"summer2winter": "summer2winter_yosemite"}


def register(recipe: Recipe) -> Recipe:
    """Add a recipe; names are unique (lower case)."""
    if recipe.name in RECIPES or recipe.name in ALIASES:
        raise ValueError(f"a download recipe named {recipe.name!r} already exists")
    if recipe.name != recipe.name.lower():
        raise ValueError(f"recipe names are lower case, got {recipe.name!r}")
    RECIPES[recipe.name] = recipe
    return recipe


# pix2pix's sets: A|B images side by side, as the authors serve them (their download script uses http).
_PIX2PIX = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"
_PIX2PIX_PAGE = "https://phillipi.github.io/pix2pix/"
_CYCLEGAN = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets"
_CYCLEGAN_PAGE = "https://junyanz.github.io/CycleGAN/"
_DIV2K = "http://data.vision.ee.ethz.ch/cvl/DIV2K"


def _pix2pix(name: str, approx_mb: float, description: str, splits: tuple[str, ...], notes: str = "") -> Recipe:
    archive = Archive(f"{_PIX2PIX}/{name}.tar.gz", approx_mb, None, ((name, ""),))
    licence = "research use; see the pix2pix page for each source's terms"
    return register(Recipe(name, "paired", description, (archive,), splits, _PIX2PIX_PAGE, licence, notes))


def _cyclegan(name: str, approx_mb: float, description: str) -> Recipe:
    archive = Archive(f"{_CYCLEGAN}/{name}.zip", approx_mb, None, ((name, ""),))
    licence = "research use; images from ImageNet / Flickr, see the CycleGAN page"
    splits = ("trainA", "trainB", "testA", "testB")
    notes = "unpaired: two domains, A and B, each with its own train/test folder"
    return register(Recipe(name, "unpaired", description, (archive,), splits, _CYCLEGAN_PAGE, licence, notes))


_pix2pix(
    "facades",
    29,
    "CMP Facades: building photo | architectural labels, 256×256",
    ("train", "val", "test"),
    "A = photo, B = labels: train labels → photo with --direction BtoA",
)
_pix2pix("maps", 239, "Google Maps: aerial photo | map, 256×256", ("train", "val"))
_pix2pix("edges2shoes", 2000, "UT Zappos50K shoes: edges | photo, 256×256", ("train", "val"))
_pix2pix("night2day", 1900, "Transient Attributes webcams: night | day of one scene, 256×256", ("train", "val"))
register(
    Recipe(
        "cityscapes",
        "paired",
        "Cityscapes street scenes: photo | semantic labels",
        (),
        ("train", "val"),
        "https://www.cityscapes-dataset.com/",
        "Cityscapes terms: registration required, no redistribution",
        manual=(
            "cityscapes has no public download: its licence requires registering at "
            "https://www.cityscapes-dataset.com/ (for that reason pytorch-CycleGAN-and-pix2pix's download script "
            "does not provide it either). Download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip there, "
            "put each photo beside its gtFine colour label image (A|B) in OUT/train/ and OUT/val/, and train with "
            "translate train pix2pix --data OUT"
        ),
    )
)
_cyclegan("horse2zebra", 111, "ImageNet horses and zebras, 256×256")
_cyclegan("summer2winter_yosemite", 126, "Flickr photos of Yosemite in summer and in winter, 256×256")
_cyclegan("apple2orange", 75, "ImageNet apples and oranges, 256×256")
register(
    Recipe(
        "div2k",
        "images",
        "DIV2K: 800 training + 100 validation photographs at 2K resolution (high-resolution only)",
        (
            Archive(f"{_DIV2K}/DIV2K_train_HR.zip", 3500, None, (("DIV2K_train_HR", "train"),)),
            Archive(f"{_DIV2K}/DIV2K_valid_HR.zip", 450, None, (("DIV2K_valid_HR", "val"),)),
        ),
        ("train", "val"),
        "https://data.vision.ee.ethz.ch/cvl/DIV2K/",
        "academic research only (DIV2K terms)",
        "super-resolution: translate eval scores OUT/val directly (LR made by bicubic downscaling); "
        "translate data build lowres OUT data/div2k-x4 --scale 4 makes training pairs, keeping the split",
    )
)


def recipe_names() -> list[str]:
    return sorted(RECIPES)


def resolve_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (case-insensitive; ``summer2winter`` is an alias).

    Raises:
        DownloadError: no such recipe; the message lists them.
    """
    key = ALIASES.get(name.lower(), name.lower())
    if key not in RECIPES:
        raise DownloadError(f"unknown data set {name!r}; choose one of: {', '.join(recipe_names())}")
    return RECIPES[key]


def format_size(megabytes: float) -> str:
    """``29`` → ``"29 MB"``, ``3950`` → ``"4.0 GB"``."""
    return f"{megabytes / 1000:.1f} GB" if megabytes >= 1000 else f"{megabytes:.0f} MB"


def describe_recipes() -> str:
    """The ``--list`` table: name, layout, approximate download size, what it is, and notes."""
    lines = []
    width = max(len(name) for name in RECIPES)
    for name in recipe_names():
        recipe = RECIPES[name]
        size = "manual" if recipe.manual else "~" + format_size(recipe.approx_mb)
        lines.append(f"{name:<{width}}  {recipe.layout:<8}  {size:>8}  {recipe.description}")
        for archive in recipe.archives:
            checksum = archive.sha256 or "none published (size and archive CRCs checked)"
            lines.append(f"{'':<{width}}    {archive.url}  sha256: {checksum}")
        if recipe.notes:
            lines.append(f"{'':<{width}}    {recipe.notes}")
        lines.append(f"{'':<{width}}    licence: {recipe.licence}; {recipe.source}")
    aliases = ", ".join(f"{alias} = {name}" for alias, name in ALIASES.items())
    lines.append(
        "\nsizes are approximate (the servers' listings and users' reports, rounded); a download checks the size "
        f"the server announces. aliases: {aliases}"
    )
    return "\n".join(lines)


def archive_url(archive: Archive, mirror: str | None = None) -> str:
    """The archive's URL, or its file name under ``mirror``."""
    return f"{mirror.rstrip('/')}/{archive.file_name}" if mirror else archive.url


def parse_sha256_overrides(recipe: Recipe, specs: Sequence[str]) -> dict[str, str]:
    """``--sha256`` values as ``{file name: hash}``: ``HASH`` (one-archive recipes) or ``FILE=HASH``.

    Raises:
        DownloadError: a malformed hash, an unknown file, or a bare hash for a recipe of several files.
    """
    files = [archive.file_name for archive in recipe.archives]
    overrides = {}
    for spec in specs:
        name, separator, digest = spec.rpartition("=")
        if not separator:
            if len(files) != 1:
                raise DownloadError(
                    f"--sha256 {spec}: {recipe.name} has {len(files)} files; use FILE=HASH with FILE one of: "
                    + ", ".join(files)
                )
            name = files[0]
        if name not in files:
            raise DownloadError(f"--sha256 {spec}: {recipe.name} has no file {name!r}; its files: {', '.join(files)}")
        digest = digest.strip().lower()
        if not _SHA256.fullmatch(digest):
            raise DownloadError(f"--sha256 {spec}: a SHA-256 is 64 hexadecimal digits")
        overrides[name] = digest
    return overrides


# ---------------------------------------------------------------------------------- download
def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes START-END/TOTAL`` (or ``bytes */TOTAL``) → (START, TOTAL); None where absent or ``*``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _transfer(url: str, part: Path, timeout: float, progress: Progress | None) -> None:
    """One request: append to ``part`` from its current size (a Range request) until the server's end.

    Raises:
        _Interrupted: the transfer stopped early or the server had a passing failure (resume).
        DownloadError: the server refuses the file (404, 403...).
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"translate/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)  # noqa: S310 - http(s) URLs of recipes
    except HTTPError as error:
        if error.code == 416 and offset:
            # Asked for bytes past the end: the part is already complete, or longer than the file.
            _, total = _content_range(error.headers.get("Content-Range"))
            if total == offset:
                return
            part.unlink()
            raise _Interrupted(f"{part} is longer than the server's file; starting again") from None
        if error.code in (408, 429) or error.code >= 500:
            raise _Interrupted(f"HTTP {error.code} {error.reason}") from None
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (URLError, OSError, http.client.HTTPException) as error:
        raise _Interrupted(str(getattr(error, "reason", error))) from None
    with response:
        start, total = _content_range(response.headers.get("Content-Range"))
        if offset and response.status == 206:
            if start != offset:
                part.unlink()
                raise _Interrupted(f"the server answered with bytes from {start}, not {offset}; starting again")
            mode = "ab"
        else:
            # A whole file (200: no Range support, or nothing to resume): start from byte 0.
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = offset
        with open(part, mode) as out:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total or 0)
            except (OSError, http.client.HTTPException) as error:
                raise _Interrupted(f"connection lost after {done} bytes ({error.__class__.__name__})") from None
    if total is not None and done != total:
        raise _Interrupted(f"the server sent {done} of {total} bytes")


def download_file(
    url: str,
    target: Path,
    *,
    sha256: str | None = None,
    retries: int = 5,
    retry_wait: float = 2.0,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> str:
    """Download ``url`` to ``target`` through ``target.part``, resuming it; returns the file's SHA-256.

    An existing ``target`` (a complete earlier download) is only checked. A ``.part`` left by an
    earlier run is resumed with an HTTP Range request; a server without Range support sends the
    whole file again. Within a run, a dropped connection is resumed up to ``retries`` times in a
    row without progress, waiting ``retry_wait`` seconds, doubling.

    Args:
        url: http(s) or file URL.
        target: the complete file's path; its folder is created.
        sha256: the expected SHA-256, or None (then only the size the server announced is checked).
        retries, retry_wait, timeout: patience with a flaky connection.
        progress: called with (bytes so far, total or 0 when unknown).

    Raises:
        DownloadError: gave up (the ``.part`` is kept: the same command resumes it), the server
            refused the file, or the checksum differs (the file is deleted).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        return _check_sha256(target, sha256, url)
    part = target.with_name(target.name + PART_SUFFIX)
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _transfer(url, part, timeout, progress)
            break
        except _Interrupted as error:
            grown = part.exists() and part.stat().st_size > before
            failures = 1 if grown else failures + 1
            if failures > retries:
                size = part.stat().st_size if part.exists() else 0
                if size == 0:
                    raise DownloadError(f"{url}: cannot download ({error}); nothing was written") from None
                raise DownloadError(
                    f"{url}: download interrupted ({error}); {size} bytes kept in {part}: "
                    "run the same command again to resume"
                ) from None
            time.sleep(retry_wait * 2 ** (failures - 1))
    digest = _check_sha256(part, sha256, url)
    os.replace(part, target)
    return digest


def _check_sha256(path: Path, expected: str | None, url: str) -> str:
    digest = file_sha256(path)
    if expected is not None and digest != expected.lower():
        path.unlink()
        raise DownloadError(
            f"{url}: checksum mismatch: SHA-256 {digest}, expected {expected}; the file was deleted. "
            "Run again to download it anew; if the publisher changed the file on purpose, pass --sha256"
        )
    return digest


# ---------------------------------------------------------------------------------- unpacking
def _member_path(root: Path, name: str, archive: Path) -> Path:
    """Where member ``name`` goes under ``root``; refuses absolute names, drives and ``..``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DamagedArchiveError(
            f"{archive}: member {name!r} would be written outside the destination; refusing this archive "
            "(it was deleted)"
        )
    return root.joinpath(*pure.parts)


def extract_archive(archive: Path, into: Path) -> None:
    """Unpack a ``.zip``, ``.tar.gz``/``.tgz`` or ``.tar`` into ``into``, safely and checked.

    Every member name is checked by :func:`_member_path`; tar members also pass tarfile's
    ``data`` filter (no links out, no devices, no set-uid bits). Zip members are checked against
    their CRC-32 as they are read; a gzip stream is read to its end so its CRC-32 and length are
    checked even after the tar's last member.

    Raises:
        DamagedArchiveError: unsafe, damaged or of an unknown format.
    """
    lower = archive.name.lower()
    try:
        if lower.endswith(".zip"):
            with zipfile.ZipFile(archive) as source:
                for info in source.infolist():
                    _member_path(into, info.filename, archive)
                source.extractall(into)
        elif lower.endswith((".tar.gz", ".tgz", ".tar")):
            opener = gzip.open if lower.endswith(("gz", "tgz")) else open
            with opener(archive, "rb") as stream:

                def check(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
                    _member_path(into, member.name, archive)
                    return tarfile.data_filter(member, path)

                # Stream mode ("r|"): one pass over the compressed data, members in order.
                with tarfile.open(fileobj=stream, mode="r|") as source:
                    source.extractall(into, filter=check)
                while stream.read(_CHUNK):  # the rest of the stream: gzip checks its CRC at the end
                    pass
        else:
            raise DamagedArchiveError(f"{archive}: unknown archive format (expected .zip, .tar.gz, .tgz or .tar)")
    except DamagedArchiveError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, OSError) as error:
        raise DamagedArchiveError(
            f"{archive}: damaged archive ({error.__class__.__name__}: {error}); it was deleted: run again to "
            "download it anew"
        ) from None


def _apply_moves(unpacked: Path, moves: tuple[tuple[str, str], ...], out: Path, archive: Path) -> None:
    """Move the archive's folders into the data set's layout (anything else in it is dropped)."""
    for inside, destination in moves:
        source = unpacked / inside
        if not source.is_dir():
            found = ", ".join(sorted(p.name for p in unpacked.iterdir())) or "nothing"
            raise DownloadError(
                f"{archive}: no folder {inside!r} inside (found: {found}); the archive is not laid out as this "
                "recipe expects"
            )
        children = [source] if destination else sorted(source.iterdir())
        for child in children:
            target = out / destination if destination else out / child.name
            if target.exists():
                raise DownloadError(f"{archive}: {target.relative_to(out)} comes from two places; not merging them")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(child, target)


# ---------------------------------------------------------------------------------- the command
@dataclass
class DownloadSummary:
    """What a download wrote: counts of images per top folder and each archive's checksum."""

    name: str
    out: Path
    counts: dict[str, int]
    archives: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        splits = ", ".join(f"{folder} {count}" for folder, count in self.counts.items())
        lines = [f"downloaded {self.name} into {self.out}: {splits} images ({self.seconds:.1f} s)"]
        for archive in self.archives:
            if archive["sha256_expected"] is None:
                lines.append(
                    f"  {archive['file']}: sha256 {archive['sha256']} (no published checksum: size and archive "
                    f"CRCs checked; pin it with --sha256 {archive['file']}={archive['sha256']})"
                )
            else:
                lines.append(f"  {archive['file']}: sha256 {archive['sha256']} (checked)")
        return "\n".join(lines)


def _fetch_all(
    recipe: Recipe,
    cache_dir: Path,
    mirror: str | None,
    expected: dict[str, str | None],
    retries: int,
    retry_wait: float,
    timeout: float,
    progress: Progress | None,
) -> list[tuple[Archive, Path, dict[str, Any]]]:
    """Download every archive of ``recipe`` into ``cache_dir``: (archive, its file, its metadata record) each."""
    files = []
    for archive in recipe.archives:
        url = archive_url(archive, mirror)
        path = cache_dir / archive.file_name
        print(f"{archive.file_name}: {url} (~{format_size(archive.approx_mb)}) -> {path}", file=sys.stderr)
        digest = download_file(
            url,
            path,
            sha256=expected[archive.file_name],
            retries=retries,
            retry_wait=retry_wait,
            timeout=timeout,
            progress=progress,
        )
        record = {
            "file": archive.file_name,
            "url": url,
            "bytes": path.stat().st_size,
            "sha256": digest,
            "sha256_expected": expected[archive.file_name],
        }
        files.append((archive, path, record))
    return files


def _unpack(
    recipe: Recipe, files: list[tuple[Archive, Path, dict[str, Any]]], out: Path, overwrite: bool
) -> DownloadSummary:
    """Unpack every archive into a staging folder, lay it out, check it, and rename it to ``out``.

    A damaged or unsafe archive is deleted (resuming cannot repair it); a good archive whose
    layout is not the expected one is kept, so a fixed recipe does not download it again.
    """
    with staged_output(out, overwrite) as staging:
        for index, (archive, path, _) in enumerate(files):
            unpacked = staging / f".unpack-{index}"
            try:
                extract_archive(path, unpacked)
            except DamagedArchiveError:
                path.unlink(missing_ok=True)
                raise
            _apply_moves(unpacked, archive.moves, staging, path)
            shutil.rmtree(unpacked)
        counts = {}
        for folder in recipe.expect:
            images = len(list_images(staging / folder)) if (staging / folder).is_dir() else 0
            if images == 0:
                raise DownloadError(
                    f"{recipe.name}: unpacked, but {folder}/ holds no images; the archive's layout has changed"
                )
            counts[folder] = images
        summary = DownloadSummary(recipe.name, out, counts, [record for _, _, record in files])
        write_metadata(
            staging,
            {
                "kind": "download",
                "recipe": recipe.name,
                "description": recipe.description,
                "layout": recipe.layout,
                "source": recipe.source,
                "licence": recipe.licence,
                "notes": recipe.notes,
                "archives": summary.archives,
                "counts": counts,
                "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "translate": __version__,
            },
        )
    return summary


def download_dataset(
    name: str,
    dest: str | os.PathLike | None = None,
    *,
    mirror: str | None = None,
    sha256: dict[str, str] | None = None,
    cache: str | os.PathLike | None = None,
    keep_archives: bool = False,
    overwrite: bool = False,
    retries: int = 5,
    retry_wait: float = 2.0,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> DownloadSummary:
    """Download, check and unpack the recipe ``name`` into ``dest`` (default ``data/NAME``).

    Args:
        name: a recipe (see ``translate data download --list``).
        dest: the data set's folder; replaced only with ``overwrite`` and only if an earlier
            download or build made it.
        mirror: serve the archives from here instead (default ``$TRANSLATE_DATA_MIRROR``).
        sha256: ``{file name: hash}`` to check instead of the recipe's (see :func:`parse_sha256_overrides`).
        cache: where archives and ``.part`` files are kept (default ``DEST/../.downloads``).
        keep_archives: keep the archives after unpacking (deleted by default: they double the space).
        overwrite, retries, retry_wait, timeout, progress: see :func:`download_file`.

    Raises:
        DownloadError: a manual recipe, an unknown name, or a download/checksum/archive failure;
            the destination is untouched in every case.
    """
    started = time.monotonic()
    recipe = resolve_recipe(name)
    if recipe.manual:
        raise DownloadError(recipe.manual)
    out = Path(dest) if dest is not None else Path("data") / recipe.name
    check_output(out, overwrite)  # before any download: refuse early
    cache_dir = Path(cache) if cache is not None else out.parent / CACHE_FOLDER
    if cache_dir.resolve() == out.resolve() or out.resolve() in cache_dir.resolve().parents:
        # The destination is replaced as a whole when the download is unpacked.
        raise DownloadError(f"--cache {cache_dir}: must be outside the destination {out}")
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    expected = {archive.file_name: archive.sha256 for archive in recipe.archives} | (sha256 or {})

    try:
        files = _fetch_all(recipe, cache_dir, mirror, expected, retries, retry_wait, timeout, progress)
        summary = _unpack(recipe, files, out, overwrite)
        if not keep_archives:
            for _, path, _ in files:
                path.unlink(missing_ok=True)
    finally:
        if cache_dir.is_dir() and not any(cache_dir.iterdir()):
            cache_dir.rmdir()  # nothing kept and nothing to resume
    summary.seconds = time.monotonic() - started
    return summary
