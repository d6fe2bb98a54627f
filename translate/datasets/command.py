"""``translate data build KIND ...`` and ``translate data download NAME``: the data-set command line.

Errors are raised as :class:`translate.data.DatasetError`; ``translate.cli`` prints them and
exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from translate.data import DatasetError
from translate.datasets.animals import AnimalOptions, build_animals
from translate.datasets.common import BuildSummary, Progress
from translate.datasets.download import (
    MIRROR_ENV,
    describe_recipes,
    download_dataset,
    parse_sha256_overrides,
    recipe_names,
    resolve_recipe,
)
from translate.datasets.emoji import STYLES, EmojiOptions, build_emoji
from translate.datasets.photos import PhotoPairOptions, build_edges, build_gray, build_lowres

_BUILD_EPILOG = """\
output layouts:
  edges, gray, lowres   OUT/{train,test}/{A,B}/NAME.png     (translate train pix2pix --data OUT)
  emoji                 the same for the first two --styles, plus OUT/styles/{train,test}/STYLE/NAME.png
  animals               OUT/{train,test}/CLASS/NNNNN.png
every build also writes OUT/metadata.json (options, counts, per-item details) and replaces
nothing unless --overwrite is given; it is written to a hidden temporary folder first.

examples:
  translate data build emoji data/emoji64 --size 64 --styles noto,openmoji,symbola
  translate data build edges data/emoji64 data/edges2emoji --subfolder B --size 64
  translate data build lowres /usr/share/backgrounds data/sr4 --size 256 --scale 4 --crops-per-image 8
  translate data build gray photos/ data/colourise --resize-short 512 --size 256
  translate data build animals data/animals
"""

_PHOTO_EPILOG = """\
Splits are by photo, never by crop. When SRC has train/ and test/ (or val/), that split is kept,
so a set derived from another (edges of an emoji set, say) holds out the same images. Otherwise
--test-fraction of the photos are held out, drawn from --seed. Transparent images are composited
on --background. Unreadable images and images smaller than --size are skipped with a warning.
"""


_DOWNLOAD_EPILOG = f"""\
The archive is downloaded to CACHE/FILE.part (default: DEST/../.downloads), resumed after a dropped
connection and by running the same command again, checked (SHA-256 where known; otherwise the
size the server announces and the archive's CRCs, and the SHA-256 it had is printed so you can pin
it with --sha256), then unpacked into a hidden folder beside DEST and renamed into place. Member
names that would land outside DEST are refused. Nothing half-unpacked is ever left in DEST.

layouts:
  paired    DEST/train/*.jpg, DEST/val/*.jpg (A|B side by side)   translate train pix2pix --data DEST
  unpaired  DEST/trainA, trainB, testA, testB
  images    DEST/train/*.png, DEST/val/*.png                      translate data build lowres DEST ...

${MIRROR_ENV} (or --mirror URL) fetches every file from URL/FILE instead of the publisher.
"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default only when it says something (not None, False or empty)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists and is not empty")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_photo_kind(kinds: argparse._SubParsersAction, kind: str, summary: str) -> argparse.ArgumentParser:
    parser = kinds.add_parser(
        kind,
        help=summary,
        description=f"{summary}.",
        epilog=_PHOTO_EPILOG,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("source", type=Path, metavar="SRC", help="photo folder (walked recursively)")
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder")
    parser.add_argument("--size", type=int, metavar="N", default=256, help="side of the square crops B")
    parser.add_argument("--crops-per-image", type=int, metavar="N", default=1, help="crops cut from each photo")
    parser.add_argument("--seed", type=int, metavar="N", default=0, help="seed of the crop positions and of the split")
    parser.add_argument(
        "--test-fraction", type=float, metavar="X", default=0.1, help="share of photos held out (without SRC/test)"
    )
    parser.add_argument("--subfolder", metavar="NAME", help="read only SRC/NAME (or SRC/train/NAME, SRC/test/NAME)")
    parser.add_argument(
        "--resize-short", type=int, metavar="N", default=0, help="first resize photos to a short side of N (0 = keep)"
    )
    parser.add_argument(
        "--background", metavar="COLOUR", default="white", help="colour transparent images are composited on"
    )
    _add_common(parser)
    return parser


def data_parser() -> argparse.ArgumentParser:
    """The parser of ``translate data``, with one sub-parser per kind of ``build``."""
    parser = argparse.ArgumentParser(
        prog="translate data", description="Build training data sets, or download the standard public ones."
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    download = actions.add_parser(
        "download",
        help="download a standard data set: translate data download --list",
        description="Download a standard data set and unpack it into the layout translate reads.",
        epilog=_DOWNLOAD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    download.add_argument("name", nargs="?", metavar="NAME", help=f"one of: {', '.join(recipe_names())}")
    download.add_argument("--list", action="store_true", help="list the data sets with their sizes and sources")
    download.add_argument("--dest", type=Path, metavar="DIR", help="output folder (default: data/NAME)")
    download.add_argument("--mirror", metavar="URL", help=f"fetch URL/FILE instead (default: ${MIRROR_ENV})")
    download.add_argument(
        "--sha256", action="append", default=[], metavar="[FILE=]HASH", help="the SHA-256 to check (repeatable)"
    )
    download.add_argument("--cache", type=Path, metavar="DIR", help="where archives and .part files are kept")
    download.add_argument("--keep-archive", action="store_true", help="keep the archives after unpacking")
    download.add_argument("--retries", type=int, default=5, metavar="N", help="resume a dropped connection N times")
    _add_common(download)
    build = actions.add_parser(
        "build",
        help="build a data set: translate data build KIND --help",
        description="Build a data set into a new folder. 'translate data build KIND --help' for a kind's options.",
        epilog=_BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = build.add_subparsers(dest="kind", metavar="KIND", required=True)

    edges = _add_photo_kind(kinds, "edges", "edges→photo pairs: A = Canny edges (dark on white) of the photo crop B")
    edges.add_argument("--canny-low", type=float, metavar="X", default=0.1, help="Canny low threshold (kornia)")
    edges.add_argument("--canny-high", type=float, metavar="X", default=0.2, help="Canny high threshold (kornia)")
    _add_photo_kind(kinds, "gray", "colourisation pairs: A = greyscale (ITU-R 601 luma) of the photo crop B")
    lowres = _add_photo_kind(
        kinds, "lowres", "super-resolution pairs: A = antialiased bicubic downscale of the photo crop B"
    )
    lowres.add_argument("--scale", type=int, metavar="N", default=4, help="downscale factor; must divide --size")

    emoji = kinds.add_parser(
        "emoji",
        help="aligned emoji pairs: A = Noto Color Emoji, B = OpenMoji (optionally Symbola as a third style)",
        description=(
            "Render every single-code-point emoji the first two --styles both draw (about 1,400 for "
            "noto,openmoji), cropped to the drawing and centred with the same margin so pairs align. "
            "The train/test split is a hash of the code points: the same for every style and size."
        ),
        formatter_class=_HelpFormatter,
    )
    emoji.add_argument("out", type=Path, metavar="OUT", help="output folder")
    emoji.add_argument("--size", type=int, metavar="N", default=64, help="side of the square images")
    emoji.add_argument(
        "--styles",
        default="noto,openmoji",
        metavar="S1,S2[,S3]",
        help=f"comma-separated styles from {', '.join(STYLES)}; A/B pairs use the first two",
    )
    emoji.add_argument("--background", default="white", metavar="COLOUR", help="colour the emoji are drawn on")
    emoji.add_argument(
        "--margin", type=float, metavar="X", default=0.05, help="empty border on each side, as a fraction of --size"
    )
    emoji.add_argument("--test-fraction", type=float, metavar="X", default=0.1, help="share of code points held out")
    emoji.add_argument("--limit", type=int, metavar="N", help="stop after this many emoji (quick sets)")
    emoji.add_argument("--font", action="append", default=[], metavar="STYLE=PATH", help="a font file for a style")
    _add_common(emoji)

    animals = kinds.add_parser(
        "animals",
        help="Animal-MNIST silhouettes (pip install --no-deps animal-mnist) in a folder per class",
        description=(
            "Write the 10,000 Animal-MNIST silhouettes (10 classes) as OUT/{train,test}/CLASS/NNNNN.png, "
            "each class split on its own. The package's pickles are read with an unpickler that accepts "
            "numpy arrays only."
        ),
        formatter_class=_HelpFormatter,
    )
    animals.add_argument("out", type=Path, metavar="OUT", help="output folder")
    animals.add_argument("--size", type=int, metavar="N", default=28, help="output side (28 keeps the originals)")
    animals.add_argument("--test-fraction", type=float, metavar="X", default=0.1, help="share of each class held out")
    animals.add_argument("--seed", type=int, metavar="N", default=0, help="seed of the split")
    animals.add_argument(
        "--source", type=Path, metavar="DIR", help="folder with the two pickles (default: the installed package's)"
    )
    _add_common(animals)
    return parser


def _photo_options(args: argparse.Namespace) -> PhotoPairOptions:
    return PhotoPairOptions(
        size=args.size,
        crops_per_image=args.crops_per_image,
        seed=args.seed,
        test_fraction=args.test_fraction,
        subfolder=args.subfolder,
        resize_short=args.resize_short,
        background=args.background,
        overwrite=args.overwrite,
    )


def _font_files(specs: list[str]) -> dict[str, Path]:
    fonts = {}
    for spec in specs:
        style, separator, path = spec.partition("=")
        if not separator or not path:
            raise DatasetError(f"--font {spec!r}: expected STYLE=PATH, e.g. noto=/path/NotoColorEmoji.ttf")
        fonts[style] = Path(path)
    return fonts


def _emoji_options(args: argparse.Namespace) -> EmojiOptions:
    return EmojiOptions(
        size=args.size,
        styles=tuple(style.strip() for style in args.styles.split(",") if style.strip()),
        background=args.background,
        margin=args.margin,
        test_fraction=args.test_fraction,
        limit=args.limit,
        fonts=_font_files(args.font),
        overwrite=args.overwrite,
    )


def _animal_options(args: argparse.Namespace) -> AnimalOptions:
    return AnimalOptions(
        size=args.size, test_fraction=args.test_fraction, seed=args.seed, source=args.source, overwrite=args.overwrite
    )


_BUILDERS: dict[str, Callable[[argparse.Namespace, Progress | None], BuildSummary]] = {
    "edges": lambda a, p: build_edges(a.source, a.out, _photo_options(a), a.canny_low, a.canny_high, p),
    "gray": lambda a, p: build_gray(a.source, a.out, _photo_options(a), p),
    "lowres": lambda a, p: build_lowres(a.source, a.out, _photo_options(a), a.scale, p),
    "emoji": lambda a, p: build_emoji(a.out, _emoji_options(a), p),
    "animals": lambda a, p: build_animals(a.out, _animal_options(a), p),
}


@contextmanager
def _progress_bar(quiet: bool, unit: str = "item") -> Iterator[Progress | None]:
    if quiet:
        yield None
        return
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, tests).
    with tqdm(unit=unit, unit_scale=unit == "B", unit_divisor=1024, file=sys.stderr, disable=None) as bar:

        def update(done: int, total: int) -> None:
            if done < bar.n:  # the next file of a download
                bar.reset()
            bar.total = total or None
            bar.update(done - bar.n)

        yield update


def _run_download(args: argparse.Namespace) -> int:
    if args.list:
        print(describe_recipes())
        return 0
    if args.name is None:
        raise DatasetError(f"name a data set (one of: {', '.join(recipe_names())}) or pass --list")
    recipe = resolve_recipe(args.name)
    if args.retries < 0:
        raise DatasetError(f"--retries must be 0 or more, got {args.retries}")
    with _progress_bar(args.quiet, unit="B") as progress:
        summary = download_dataset(
            recipe.name,
            args.dest,
            mirror=args.mirror,
            sha256=parse_sha256_overrides(recipe, args.sha256),
            cache=args.cache,
            keep_archives=args.keep_archive,
            overwrite=args.overwrite,
            retries=args.retries,
            progress=progress,
        )
    print(summary.describe())
    return 0


def run_data_command(argv: Sequence[str]) -> int:
    """Run ``translate data ...``; returns the exit status (argparse exits 2 on bad flags)."""
    args = data_parser().parse_args(list(argv))
    if args.action == "download":
        return _run_download(args)
    import torch

    # Builders work one small image at a time: one thread beats waiting for busy cores.
    torch.set_num_threads(1)
    with _progress_bar(args.quiet) as progress:
        summary = _BUILDERS[args.kind](args, progress)
    print(summary.describe())
    return 0
