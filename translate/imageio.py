"""Image files in and out: the one loader and saver shared by training, inference and the apps.

Loading applies a single channel policy (EXIF orientation, palettes, 16-bit greyscale, alpha,
CMYK...) so a model sees the same pixels at training and at inference time. Saving rounds to
the nearest level, keeps 16-bit greyscale and alpha where the format can hold them, and writes
atomically so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}
)

# Greyscale modes whose samples go past 8 bits; read through numpy so nothing is quantised to 8 bits.
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_GREY_MODES = frozenset({"1", "L", "LA", "La"})
# By mode, not by band name: LAB's "A" band is a colour axis. "a" modes are premultiplied.
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# ITU-R BT.601 luma weights, the ones Pillow's "L" conversion uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma of R, G, B
_LUMA = np.array(LUMA_WEIGHTS, dtype=np.float32)
# Pillow reads 16-bit colour files (its raw modes "RGB;16B", "RGBA;16N", "LA;16B"...) as 8 bits;
# load_pil notes (raw mode, EXIF orientation) under this key, and load_image decodes the file again
# with OpenCV at full depth.
_SIXTEEN_BIT_COLOUR = "translate.sixteen_bit_colour"
# Formats that store alpha / 16-bit greyscale when written by Pillow. Others (JPEG, BMP, PPM)
# would fail or silently drop alpha on read-back, so alpha is composited on white for them.
_ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP", "GIF"})
_SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
_LOSSY_FORMATS = frozenset({"JPEG", "WEBP"})
# Errors Pillow raises while decoding broken or truncated data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


class ImageReadError(Exception):
    """An image file cannot be read; the message starts with the file path, then the problem."""


@dataclass(frozen=True)
class ImageData:
    """A decoded image with what is needed to save a result of the same kind.

    Attributes:
        pixels: float32 ``[C, H, W]`` in [0, 1]; C is the number of channels requested.
        alpha: float32 ``[1, H, W]`` in [0, 1] when the source had transparency and the
            requested channels do not include alpha; otherwise None. Colour is not premultiplied.
        bit_depth: 8 or 16, the precision the source stored, so outputs can keep it.
        source_mode: Pillow mode of the file as opened, e.g. ``"RGB"``, ``"P"``, ``"I;16"``.
        path: the file it came from, or None for an in-memory image.
    """

    pixels: torch.Tensor
    alpha: torch.Tensor | None
    bit_depth: int
    source_mode: str
    path: Path | None


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` has an image extension (case-insensitive); the file is not opened.

    Args:
        path: a file name or path.

    Returns:
        True when the suffix is in :data:`IMAGE_EXTENSIONS`.
    """
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under ``folder``, sorted, skipping hidden files and folders (names starting with '.').

    Args:
        folder: the folder to list.
        recursive: also list sub-folders.

    Returns:
        The image paths (``folder`` joined with their relative path), sorted by path components
        so the order is the same on every machine.

    Raises:
        NotADirectoryError: ``folder`` is not an existing folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: no such folder")
    if not recursive:
        return sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.is_file() and is_image_file(p))
    found = []
    for directory, subdirectories, files in os.walk(root):
        # Pruning in place stops os.walk from descending into hidden folders (.git, .cache...).
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        found.extend(Path(directory, name) for name in files if not name.startswith(".") and is_image_file(name))
    return sorted(found)


def _bomb_error(path: str | os.PathLike, pixels: int | None, limit: int | None) -> ImageReadError:
    count = f"{pixels} pixels" if pixels is not None else "too many pixels"
    return ImageReadError(f"{path}: image has {count}, over the limit of {limit} (decompression-bomb protection)")


def load_pil(path: str | os.PathLike, *, max_pixels: int | None = None) -> Image.Image:
    """Open and fully decode an image file, with its EXIF orientation applied.

    Args:
        path: the image file.
        max_pixels: refuse images with more pixels than this, checked on the header before any
            pixel is decoded. None uses Pillow's ``Image.MAX_IMAGE_PIXELS``. Pillow's own limit is
            checked too, so this can only tighten it; to allow bigger images raise
            ``Image.MAX_IMAGE_PIXELS`` itself.

    Returns:
        The decoded image, in the file's own mode, upright. Its file is already closed.

    Raises:
        ImageReadError: missing, a folder, empty, not an image, truncated or corrupt, or too big.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        # An explicit handle closes the file even for multi-frame formats Pillow would keep open.
        handle = open(path, "rb")  # closed by the `with handle` below
    except FileNotFoundError as error:
        raise ImageReadError(f"{path}: no such file") from error
    except IsADirectoryError as error:
        raise ImageReadError(f"{path}: is a folder, not an image file") from error
    except OSError as error:
        raise ImageReadError(f"{path}: cannot open the file ({error.strerror or error})") from error
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        try:
            with warnings.catch_warnings():
                # Pillow only warns between 1x and 2x its limit: refuse those too, without a stray warning.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(handle)
            width, height = image.size
            if limit is not None and width * height > limit:
                raise _bomb_error(path, width * height, limit)
            raw_modes = [_raw_mode(tile) for tile in image.tile]
            maxval = _ppm_maxval(image)
            if image.mode in ("RGB", "RGBA") and (any(";16" in raw for raw in raw_modes) or maxval > 255):
                image.info[_SIXTEEN_BIT_COLOUR] = (
                    raw_modes[0], image.getexif().get(0x0112, 1), maxval  # EXIF Orientation
                )
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            # Pillow's message is "Image size (N pixels) exceeds limit of ..."; keep only N.
            found = re.search(r"\((\d+) pixels\)", str(error))
            raise _bomb_error(path, int(found.group(1)) if found else None, Image.MAX_IMAGE_PIXELS) from error
        except UnidentifiedImageError as error:
            raise ImageReadError(f"{path}: not an image file (cannot identify image)") from error
        except _DECODE_ERRORS as error:
            raise ImageReadError(f"{path}: image data is truncated or corrupt ({error})") from error
    return image


def _raw_mode(tile: object) -> str:
    """The raw mode of one of Pillow's decoder tiles (``"RGB;16B"``), or ""."""
    # A named tuple since Pillow 11 (.args), a plain (codec, extents, offset, args) tuple before.
    if hasattr(tile, "args"):
        args = tile.args
    else:
        args = tile[3] if isinstance(tile, tuple) and len(tile) > 3 else None
    raw = args[0] if isinstance(args, tuple) and args else args
    return raw if isinstance(raw, str) else ""


def _ppm_maxval(image: Image.Image) -> int:
    """A PPM's largest sample value (its header's maxval; above 255 the file has 2 bytes per
    sample, which Pillow scales to 8 bits), or 0 for other formats."""
    if image.format != "PPM" or not image.tile:
        return 0
    args = getattr(image.tile[0], "args", None)
    if args is None and isinstance(image.tile[0], tuple) and len(image.tile[0]) > 3:
        args = image.tile[0][3]
    return args[1] if isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], int) else 0


_PPM_FIELD = re.compile(rb"(?:\s|#[^\n\r]*)*([^\s#]+)")  # one header field, after whitespace and comments


def _deep_ppm_samples(data: bytes) -> np.ndarray | None:
    """The RGB samples ``[H, W, 3]`` (uint16, 0 to maxval) of a PPM with maxval above 255, binary
    (P6: two bytes per sample, big-endian) or plain (P3: decimal text), or None when the file is
    not one. The header's fields are separated by whitespace, and by comments from ``#`` to the
    end of a line."""
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:
        match = _PPM_FIELD.match(data, position)
        if match is None:
            return None
        fields.append(match.group(1))
        position = match.end()
    magic, width, height, maxval = fields
    if magic not in (b"P3", b"P6") or not (width.isdigit() and height.isdigit() and maxval.isdigit()):
        return None
    shape, count = (int(height), int(width), 3), int(height) * int(width) * 3
    if not 255 < int(maxval) < 65536:
        return None
    if magic == b"P6":  # exactly one whitespace byte between the header and the samples
        if len(data) < position + 1 + 2 * count:
            return None
        samples = np.frombuffer(data, dtype=">u2", count=count, offset=position + 1)
    else:
        text = re.sub(rb"#[^\n\r]*", b" ", data[position:]).split()[:count]
        if len(text) < count or not all(value.isdigit() for value in text):
            return None
        samples = np.array(text, dtype=np.int64)
    return samples.astype(np.uint16).reshape(shape)


# EXIF Orientation → the numpy equivalent of the transpose ImageOps.exif_transpose applies.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _sixteen_bit_colour_planes(
    path: str | os.PathLike, image: Image.Image
) -> tuple[np.ndarray, np.ndarray | None, int, str]:
    """A 16-bit colour (or grey + alpha) file's colour and alpha decoded at full depth (by OpenCV;
    a deep PPM by :func:`_deep_ppm_samples`), with the bit depth and the file's kind (``"RGB"``,
    ``"RGBA"``, ``"LA"``).

    Pillow's own decoding (``image``, 8 bits, orientation applied) is the check: OpenCV's result,
    as decoded or turned by the EXIF orientation (OpenCV turns TIFFs itself, not PNGs), must give
    Pillow's pixels when reduced to 8 bits as Pillow does. A PPM's samples (maxval above 255) are
    scaled by its maxval, so a 12-bit PPM is read at its 12 bits. Anything else (a format OpenCV reads otherwise, a file
    changed in between, an OpenCV error) falls back to Pillow's 8-bit planes.
    """
    import cv2  # opencv-python-headless, albumentations' own dependency

    raw_mode, orientation, maxval = image.info[_SIXTEEN_BIT_COLOUR]
    eight_bit = np.asarray(image)
    try:
        if maxval:  # a deep PPM: read here (OpenCV refuses a plain one without a final whitespace)
            values = _deep_ppm_samples(Path(path).read_bytes())
        else:
            values = cv2.imdecode(np.memmap(path, dtype=np.uint8, mode="r"), cv2.IMREAD_UNCHANGED)
            if values is not None and values.ndim == 3:
                values = cv2.cvtColor(values, cv2.COLOR_BGRA2RGBA if values.shape[-1] == 4 else cv2.COLOR_BGR2RGB)
    except (cv2.error, OSError, ValueError):
        values = None
    channels = eight_bit.shape[-1]
    # An RGB file with one transparent colour (PNG tRNS) comes out of OpenCV with that colour's
    # pixels transparent in a 4th channel.
    transparent_colour = channels == 3 and "transparency" in image.info
    expected = 4 if transparent_colour else channels
    if values is None or values.dtype != np.uint16 or values.ndim != 3 or values.shape[-1] != expected:
        return (*_planes(image), image.mode)
    candidates = [values] + ([_ORIENT[orientation](values)] if orientation in _ORIENT else [])
    full_scale = maxval or 65535  # a PPM's samples run to its maxval

    def pillows_eight_bits(colour: np.ndarray) -> np.ndarray:
        # Pillow keeps the high byte of 16-bit PNG and TIFF samples and rounds PPM ones to 0-255
        # (min(255, round(value / maxval * 255)), computed in the same order here).
        if not maxval:
            return colour >> 8
        return np.minimum(np.round(colour.astype(np.float64) / maxval * 255), 255).astype(np.int64)

    found = next(
        (c for c in candidates
         if c.shape[:2] == eight_bit.shape[:2] and np.array_equal(pillows_eight_bits(c[..., :channels]), eight_bit)),
        None,
    )
    if found is None:
        return (*_planes(image), image.mode)
    found = np.clip(found.astype(np.float32) / full_scale, 0, 1)
    alpha = found[..., 3] if expected == 4 else None
    if raw_mode.startswith("LA;"):  # grey with alpha, which Pillow opens as RGBA
        return found[..., :1], alpha, 16, "LA"
    return found[..., :3], alpha, 16, image.mode


def is_greyscale_mode(mode: str) -> bool:
    """Whether a Pillow mode (:attr:`ImageData.source_mode`) stores one grey channel (maybe with alpha)."""
    return mode in _GREY_MODES or mode in _SIXTEEN_BIT_MODES or mode == "F"


def _planes(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Colour ``[H, W, 1 or 3]`` and alpha ``[H, W]`` (or None) as float32 in [0, 1], and the bit depth."""
    if image.mode in _SIXTEEN_BIT_MODES:
        levels = np.asarray(image)
        # A 16-bit grey PNG with one transparent level (tRNS): that level, exactly, is transparent.
        transparent = image.info.get("transparency")
        alpha = (levels != transparent).astype(np.float32) if isinstance(transparent, int) else None
        return np.clip(levels.astype(np.float32) / 65535, 0, 1)[..., None], alpha, 16
    if image.mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        if values.size and values.max() > 1:
            values = values / 255
        # Float files carry more than 8 bits of precision; 16-bit output keeps most of it.
        return np.clip(values, 0, 1)[..., None], None, 16
    # "transparency" in info covers palette, greyscale and RGB files with one transparent colour (PNG tRNS).
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if image.mode in _GREY_MODES:
        target = "LA" if has_alpha else "L"
    else:
        # Palettes, CMYK, YCbCr, LAB, HSV, RGBX... all go through Pillow's conversion to RGB(A).
        target = "RGBA" if has_alpha else "RGB"
    if image.mode != target:
        image = image.convert(target)
    values = np.asarray(image, dtype=np.float32) / 255
    if values.ndim == 2:
        values = values[..., None]
    if has_alpha:
        return values[..., :-1], values[..., -1], 8
    return values, None, 8


def pil_to_image_data(image: Image.Image, channels: int, path: str | os.PathLike | None = None) -> ImageData:
    """Apply the channel policy to a decoded image (a file's, or one handed over by an app).

    Greyscale is replicated to 3 channels; colour becomes ITU-R 601 luma for 1 channel; alpha
    becomes the 4th channel when ``channels == 4`` (ones when the source has none), otherwise
    it is split off into :attr:`ImageData.alpha`.

    Args:
        image: the image, EXIF orientation already applied (see :func:`load_pil`).
        channels: 1, 3 or 4.
        path: the file it came from, recorded in the result; a 16-bit colour file is decoded
            again from it at full depth (Pillow's own decoding keeps 8 bits).

    Returns:
        The image data; pixels are float32 ``[channels, H, W]`` in [0, 1].

    Raises:
        ValueError: ``channels`` is not 1, 3 or 4, or Pillow cannot convert the image's mode.
    """
    if channels not in (1, 3, 4):
        raise ValueError(f"channels must be 1, 3 or 4, got {channels}")
    if _SIXTEEN_BIT_COLOUR in image.info and path is not None:
        colour, alpha, bit_depth, source_mode = _sixteen_bit_colour_planes(path, image)
    else:
        colour, alpha, bit_depth = _planes(image)
        source_mode = image.mode
    if channels == 1 and colour.shape[-1] == 3:
        # Clipped because the float weights can sum to a hair over 1.
        colour = np.clip(colour @ _LUMA, 0, 1)[..., None]
    elif channels > 1 and colour.shape[-1] == 1:
        colour = np.repeat(colour, 3, axis=-1)
    if channels == 4:
        opacity = alpha if alpha is not None else np.ones(colour.shape[:2], dtype=np.float32)
        colour = np.concatenate([colour, opacity[..., None]], axis=-1)
        alpha = None
    return ImageData(
        pixels=torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1))),
        alpha=None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha[None])),
        bit_depth=bit_depth,
        source_mode=source_mode,
        path=None if path is None else Path(path),
    )


def load_image(path: str | os.PathLike, channels: int = 3, *, max_pixels: int | None = None) -> ImageData:
    """Read an image file with the channel policy of :func:`pil_to_image_data`.

    Args:
        path: the image file.
        channels: 1, 3 or 4 channels in the returned pixels.
        max_pixels: pixel-count limit, see :func:`load_pil`.

    Returns:
        The image data, pixels float32 ``[channels, H, W]`` in [0, 1].

    Raises:
        ImageReadError: the file cannot be read or converted (the message starts with the path).
        ValueError: ``channels`` is not 1, 3 or 4.
    """
    # Checked before reading: a wrong argument is a caller's bug, not a problem with the file.
    if channels not in (1, 3, 4):
        raise ValueError(f"channels must be 1, 3 or 4, got {channels}")
    image = load_pil(path, max_pixels=max_pixels)
    try:
        return pil_to_image_data(image, channels, path)
    except ValueError as error:
        raise ImageReadError(f"{path}: cannot convert image mode {image.mode} ({error})") from error


def _as_chw(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """``[C, H, W]`` or ``[1, C, H, W]`` → float32 ``[C, H, W]`` on the CPU, in [0, 1]."""
    if tensor.ndim == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 3:
        raise ValueError(f"{name} must be [C, H, W] or [1, C, H, W], got shape {tuple(tensor.shape)}")
    tensor = tensor.detach().to("cpu", torch.float32)
    if not tensor.isnan().any() and (tensor.numel() == 0 or (tensor.min() >= 0 and tensor.max() <= 1)):
        return tensor  # already clean: no copy (a ×4 super-resolution output is hundreds of MB)
    # NaNs would otherwise turn into arbitrary bytes in the integer conversion.
    return torch.nan_to_num(tensor, nan=0.0).clamp_(0, 1)


def _check_alpha(alpha: torch.Tensor, pixels: torch.Tensor) -> None:
    if alpha.shape != (1, *pixels.shape[-2:]):
        raise ValueError(
            f"alpha must be [1, H, W] matching pixels {tuple(pixels.shape)}, got shape {tuple(alpha.shape)}"
        )


def _with_alpha(pixels: torch.Tensor, alpha: torch.Tensor | None) -> torch.Tensor:
    """``pixels`` ``[C, H, W]`` with ``alpha`` ``[1, H, W]`` (checked) as one more channel, if given."""
    if alpha is None:
        return pixels
    if pixels.shape[0] == 4:
        raise ValueError("pixels already carry alpha as their 4th channel; pass alpha=None")
    alpha = _as_chw(alpha, "alpha")
    _check_alpha(alpha, pixels)
    return torch.cat([pixels, alpha])


def _check_bit_depth(bit_depth: int) -> None:
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")


def to_pil(pixels: torch.Tensor, bit_depth: int = 8, alpha: torch.Tensor | None = None) -> Image.Image:
    """Convert pixels (and optional alpha) to a Pillow image, rounding to the nearest level.

    Pillow has no 16-bit colour or 16-bit greyscale-with-alpha modes, so ``bit_depth=16`` gives
    ``"I;16"`` only for 1 channel without alpha and falls back to 8 bits otherwise.

    Args:
        pixels: ``[C, H, W]`` or ``[1, C, H, W]``, C in {1, 3, 4}, values clamped to [0, 1].
        bit_depth: 8 or 16.
        alpha: ``[1, H, W]`` in [0, 1], attached as an alpha channel; not allowed with C == 4.

    Returns:
        An image in mode L, LA, RGB, RGBA or I;16.

    Raises:
        ValueError: bad rank, channel count, bit depth or alpha shape.
    """
    _check_bit_depth(bit_depth)
    pixels = _as_chw(pixels, "pixels")
    if pixels.shape[0] not in (1, 3, 4):
        raise ValueError(f"pixels must have 1, 3 or 4 channels, got shape {tuple(pixels.shape)}")
    pixels = _with_alpha(pixels, alpha)
    if bit_depth == 16 and pixels.shape[0] == 1:
        # Via int32: torch's uint16 support is partial, numpy's cast is exact after rounding.
        levels = (pixels[0] * 65535).round().to(torch.int32).numpy().astype(np.uint16)
        return Image.fromarray(levels)
    levels = (pixels * 255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(levels[..., 0] if levels.shape[-1] == 1 else levels)


def save_image(
    pixels: torch.Tensor,
    path: str | os.PathLike,
    bit_depth: int = 8,
    alpha: torch.Tensor | None = None,
    quality: int = 95,
) -> None:
    """Save pixels atomically, in the format named by the suffix.

    16-bit is written for PNG and TIFF: grey through Pillow (mode ``"I;16"``), colour (with or
    without alpha) through OpenCV, grey with alpha in PNG by our own encoder; grey with alpha in
    TIFF and other formats fall back to 8 bits. Formats without alpha
    (JPEG, BMP, PPM/PGM) get the image composited on white.

    Args:
        pixels: ``[C, H, W]`` or ``[1, C, H, W]`` float in [0, 1] (clamped), C in {1, 3, 4}.
        path: output file; its folders are created.
        bit_depth: 8 or 16, usually :attr:`ImageData.bit_depth` of the input.
        alpha: ``[1, H, W]`` alpha to attach, e.g. :attr:`ImageData.alpha`.
        quality: JPEG/WebP quality.

    Raises:
        ValueError: unknown suffix, bad rank, channel count, bit depth or alpha shape.
    """
    path = Path(path)
    _check_bit_depth(bit_depth)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise ValueError(f"{path}: unknown image file extension {path.suffix!r}")
    pixels = _as_chw(pixels, "pixels")
    if image_format not in _ALPHA_FORMATS:
        if alpha is None and pixels.shape[0] == 4:
            pixels, alpha = pixels[:3], pixels[3:]
        if alpha is not None:
            alpha = _as_chw(alpha, "alpha")
            _check_alpha(alpha, pixels)
            pixels = pixels * alpha + (1 - alpha)
            alpha = None
    if bit_depth == 16 and image_format in _SIXTEEN_BIT_FORMATS and pixels.shape[0] >= 3:
        _save_sixteen_bit_colour(pixels, alpha, path)
        return
    if bit_depth == 16 and image_format == "PNG" and pixels.shape[0] == 1 and alpha is not None:
        _save_sixteen_bit_grey_alpha_png(_with_alpha(pixels, alpha), path)
        return
    image = to_pil(pixels, bit_depth if image_format in _SIXTEEN_BIT_FORMATS else 8, alpha)
    options = {"quality": quality} if image_format in _LOSSY_FORMATS else {}
    with atomic_write(path) as temporary:
        image.save(temporary, format=image_format, **options)


def _save_sixteen_bit_colour(pixels: torch.Tensor, alpha: torch.Tensor | None, path: Path) -> None:
    """RGB(A) in 16 bits per channel, PNG or TIFF, through OpenCV (Pillow writes colour in 8 bits only)."""
    import cv2  # opencv-python-headless, albumentations' own dependency

    pixels = _with_alpha(pixels, alpha)
    if pixels.shape[0] not in (3, 4):
        raise ValueError(f"pixels must have 1, 3 or 4 channels, got shape {tuple(pixels.shape)}")
    levels = pixels.mul(65535).round_().to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16)
    levels = cv2.cvtColor(levels, cv2.COLOR_RGBA2BGRA if levels.shape[-1] == 4 else cv2.COLOR_RGB2BGR)
    # Pillow's PNG level (6); OpenCV's default (1) writes files about a third larger.
    ok, encoded = cv2.imencode(path.suffix.lower(), levels, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode a 16-bit {path.suffix} image")
    with atomic_write(path) as temporary:
        temporary.write_bytes(encoded.data)


def _save_sixteen_bit_grey_alpha_png(grey_alpha: torch.Tensor, path: Path) -> None:
    """Grey with alpha in 16 bits per channel (PNG colour type 4), encoded here: neither Pillow
    (no 16-bit LA mode) nor OpenCV (1, 3 or 4 channels only) writes it. Each row uses PNG's
    "up" filter (the difference from the row above), which compresses smooth images well."""
    _, height, width = grey_alpha.shape
    levels = np.ascontiguousarray(grey_alpha.mul(65535).round_().to(torch.int32).permute(1, 2, 0).numpy(), dtype=">u2")
    rows = levels.view(np.uint8).reshape(height, width * 4)
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]  # modulo 256, as the filter is defined
    scanlines = np.concatenate([np.full((height, 1), 2, dtype=np.uint8), filtered], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)  # depth 16, grey + alpha
    encoded = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
               + chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)) + chunk(b"IEND", b""))
    with atomic_write(path) as temporary:
        temporary.write_bytes(encoded)


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Write to a temporary file next to ``path`` and move it into place only on success.

    The temporary name is hidden (``.{name}.tmp-{pid}-{random}{suffix}``, so :func:`list_images`
    skips it) and keeps the suffix so writers that go by extension pick the right format.

    Args:
        path: the final file; its parent folders are created.

    Yields:
        The temporary path to write to.

    Raises:
        Whatever the body raises, after the temporary file is removed; ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    try:
        yield temporary
        # Same folder, same file system: the rename is atomic, readers see the old or the new file.
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file as hex, read in 1 MiB blocks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}(\.[^.]*)?$")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(paths: list[Path]) -> int:
    """Delete the temporary files :func:`atomic_write` left for ``paths`` when its process was killed.

    A ``SIGKILL`` gives :func:`atomic_write` no chance to clean up; a later run calls this for the
    files it is about to write. Only temporaries of writers that are no longer running on this
    machine are removed, so a concurrent writer is never disturbed.

    Args:
        paths: final files (their folders are listed once each; missing folders are skipped).

    Returns:
        How many temporary files were removed.
    """
    wanted: dict[Path, set[str]] = {}
    for path in paths:
        wanted.setdefault(path.parent, set()).add(path.name)
    removed = 0
    for folder, names in wanted.items():
        try:
            entries = [e for e in os.scandir(folder) if e.name.startswith(".") and ".tmp-" in e.name]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            match = _TEMPORARY_NAME.match(entry.name)
            if match and match["name"] in names and not _process_alive(int(match["pid"])):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


def atomic_folder(destination: Path) -> Path:
    """A fresh temporary folder beside ``destination``; see :func:`commit_folder`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{destination.name}.tmp-", dir=destination.parent))
    # mkdtemp makes it private (0700); the finished folder should have the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    return folder


def commit_folder(temporary: Path, destination: Path) -> None:
    """Put a completed temporary folder in place of ``destination`` (old one removed after)."""
    old = None
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(destination, old)
    os.replace(temporary, destination)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def bicubic_resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize clamped to [0, 1]: the one downscale the data builders and the
    super-resolution evaluation share, so evaluation inputs match ``translate data build lowres``.

    Shape:
        ``[C, H, W]`` or ``[N, C, H, W]`` → the same with ``H, W = size``.
    """
    batched = images.float() if images.dim() == 4 else images.float()[None]
    resized = torch.nn.functional.interpolate(batched, size=size, mode="bicubic", align_corners=False, antialias=True)
    resized = resized.clamp(0, 1)
    return resized if images.dim() == 4 else resized[0]


def to_8bit_levels(images: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] pixels to the 256 levels an 8-bit file stores (what is written is what is scored)."""
    return (images.float().clamp(0, 1) * 255).round() / 255
