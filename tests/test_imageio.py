"""Image I/O: the channel policy for every source mode, error messages, exact saving, atomic writes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from translate.imageio import (
    ImageReadError,
    atomic_write,
    is_image_file,
    list_images,
    load_image,
    load_pil,
    pil_to_image_data,
    save_image,
    to_pil,
)

RNG = np.random.default_rng(0)


def _rgb(height: int = 6, width: int = 7) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save(tmp_path: Path, name: str, image: Image.Image, **options: object) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W]`` or ``[H, W, C]`` → float ``[C, H, W]`` in [0, 1]."""
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.transpose(2, 0, 1).astype(np.float32) / 255)


def test_greyscale_replicated_for_three_channels(tmp_path: Path) -> None:
    grey = RNG.integers(0, 256, (5, 4), dtype=np.uint8)
    path = _save(tmp_path, "grey.png", Image.fromarray(grey))
    one = load_image(path, channels=1)
    three = load_image(path, channels=3)
    assert (one.source_mode, one.bit_depth, one.alpha, one.path) == ("L", 8, None, path)
    assert one.pixels.dtype == torch.float32
    assert torch.equal(one.pixels, _as_tensor(grey))
    assert torch.equal(three.pixels, _as_tensor(grey).expand(3, -1, -1))


def test_rgb_to_one_channel_is_luma(tmp_path: Path) -> None:
    rgb = _rgb()
    path = _save(tmp_path, "colour.png", Image.fromarray(rgb))
    data = load_image(path, channels=1)
    assert data.pixels.shape == (1, 6, 7)
    expected = _as_tensor(rgb).mul(torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True)
    torch.testing.assert_close(data.pixels, expected, atol=1e-6, rtol=0)
    # Pillow's own "L" conversion agrees to within its integer rounding.
    pillow_luma = _as_tensor(np.asarray(Image.fromarray(rgb).convert("L")))
    assert (data.pixels - pillow_luma).abs().max() <= 1 / 255


def test_rgb_with_four_channels_gets_opaque_alpha(tmp_path: Path) -> None:
    rgb = _rgb()
    data = load_image(_save(tmp_path, "colour.png", Image.fromarray(rgb)), channels=4)
    assert data.alpha is None
    assert torch.equal(data.pixels[:3], _as_tensor(rgb))
    assert torch.all(data.pixels[3] == 1)


def test_rgba_alpha_split_off_and_reattached_losslessly(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 256, (6, 7, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0  # fully transparent, colour must survive (not premultiplied)
    source = _save(tmp_path, "rgba.png", Image.fromarray(rgba))
    data = load_image(source, channels=3)
    assert data.source_mode == "RGBA"
    assert torch.equal(data.pixels, _as_tensor(rgba[..., :3]))
    assert data.alpha is not None and torch.equal(data.alpha, _as_tensor(rgba[..., 3]))
    copy = tmp_path / "out" / "copy.png"
    save_image(data.pixels, copy, alpha=data.alpha)
    assert np.array_equal(np.asarray(Image.open(copy)), rgba)
    again = load_image(copy, channels=3)
    assert torch.equal(again.pixels, data.pixels) and torch.equal(again.alpha, data.alpha)
    four = load_image(source, channels=4)
    assert four.alpha is None and torch.equal(four.pixels, _as_tensor(rgba))


def test_palette_without_transparency_is_rgb(tmp_path: Path) -> None:
    rgb = _rgb()
    palette_image = Image.fromarray(rgb).quantize(16)
    path = _save(tmp_path, "palette.png", palette_image)
    data = load_image(path, channels=3)
    assert (data.source_mode, data.alpha) == ("P", None)
    assert torch.equal(data.pixels, _as_tensor(np.asarray(palette_image.convert("RGB"))))


def test_palette_with_transparency_gets_alpha(tmp_path: Path) -> None:
    image = Image.new("P", (2, 2))
    image.putdata([0, 1, 2, 1])  # row-major: top row 0 1, bottom row 2 1
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    path = _save(tmp_path, "palette.png", image, transparency=1)
    data = load_image(path, channels=3)
    assert data.source_mode == "P"
    assert data.alpha is not None and torch.equal(data.alpha[0], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(data.pixels[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(data.pixels[:, 1, 0], torch.tensor([0.0, 0.0, 1.0]))
    four = load_image(path, channels=4)
    assert four.alpha is None and torch.equal(four.pixels[3], data.alpha[0])


def test_palette_alpha_mode_in_memory() -> None:
    image = Image.new("PA", (3, 2))
    image.putpalette([10, 20, 30] * 256)
    image.putpixel((0, 0), (0, 128))
    data = pil_to_image_data(image, channels=3)
    assert data.source_mode == "PA"
    assert data.alpha is not None and data.alpha.shape == (1, 2, 3)
    assert data.alpha[0, 0, 0] == pytest.approx(128 / 255)
    assert torch.allclose(data.pixels[:, 0, 0], torch.tensor([10, 20, 30]) / 255)


@pytest.mark.parametrize("mode", ["YCbCr", "LAB", "HSV", "RGBX", "1"])
def test_other_modes_become_opaque_rgb(mode: str) -> None:
    image = Image.new(mode, (3, 2))
    data = pil_to_image_data(image, channels=3)
    assert data.pixels.shape == (3, 2, 3) and data.alpha is None and data.bit_depth == 8
    expected = _as_tensor(np.asarray(image.convert("RGB")))
    assert torch.equal(data.pixels, expected)


def test_sixteen_bit_grey_keeps_its_values(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 1001], [65535, 7, 30000]], dtype=np.uint16)
    path = _save(tmp_path, "deep.png", Image.fromarray(values))
    data = load_image(path, channels=1)
    assert (data.source_mode, data.bit_depth) == ("I;16", 16)
    assert torch.equal(data.pixels[0], torch.from_numpy(values.astype(np.float32) / 65535))
    # 1000 and 1001 are the same 8-bit level: telling them apart proves no 8-bit detour.
    assert data.pixels[0, 0, 1] != data.pixels[0, 0, 2]
    copy = tmp_path / "copy.png"
    save_image(data.pixels, copy, bit_depth=data.bit_depth)
    reread = Image.open(copy)
    assert reread.mode == "I;16" and np.array_equal(np.asarray(reread), values)
    assert torch.equal(load_image(copy, channels=1).pixels, data.pixels)
    assert load_image(path, channels=3).pixels.shape == (3, 2, 3)


def test_int32_and_float_modes_in_memory() -> None:
    wide = pil_to_image_data(Image.fromarray(np.array([[0, 65535, 70000, -5]], dtype=np.int32)), channels=1)
    assert wide.bit_depth == 16 and wide.pixels.flatten().tolist() == [0.0, 1.0, 1.0, 0.0]
    unit = pil_to_image_data(Image.fromarray(np.array([[0.25, 0.5]], dtype=np.float32)), channels=1)
    assert unit.pixels.flatten().tolist() == [0.25, 0.5]
    bytes_like = pil_to_image_data(Image.fromarray(np.array([[51.0, 255.0, 300.0]], dtype=np.float32)), channels=1)
    assert torch.allclose(bytes_like.pixels.flatten(), torch.tensor([0.2, 1.0, 1.0]))


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = _save(tmp_path, "print.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=100)
    data = load_image(path, channels=3)
    assert data.source_mode == "CMYK" and data.pixels.shape == (3, 8, 8)
    red = data.pixels.mean((1, 2))
    assert red[0] > 0.9 and red[1] < 0.1 and red[2] < 0.1


def test_grey_with_alpha(tmp_path: Path) -> None:
    la = RNG.integers(0, 256, (4, 5, 2), dtype=np.uint8)
    path = _save(tmp_path, "la.png", Image.fromarray(la))
    three = load_image(path, channels=3)
    assert three.source_mode == "LA"
    assert torch.equal(three.pixels, _as_tensor(la[..., 0]).expand(3, -1, -1))
    assert torch.equal(three.alpha, _as_tensor(la[..., 1]))
    one = load_image(path, channels=1)
    assert torch.equal(one.pixels, _as_tensor(la[..., 0])) and torch.equal(one.alpha, three.alpha)
    four = load_image(path, channels=4)
    assert four.alpha is None and torch.equal(four.pixels[3:], three.alpha)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    array = np.zeros((10, 20, 3), dtype=np.uint8)
    array[:, 10:] = 255  # left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = _save(tmp_path, "phone.jpg", Image.fromarray(array), exif=exif.tobytes(), quality=100)
    assert load_pil(path).size == (10, 20)
    data = load_image(path)
    assert data.pixels.shape == (3, 20, 10)
    # After a clockwise turn the left (black) half is on top.
    assert data.pixels[:, :8].mean() < 0.1 and data.pixels[:, 12:].mean() > 0.9


def test_unreadable_files_raise_image_read_error_naming_the_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    whole = _save(tmp_path, "whole.png", Image.fromarray(_rgb(64, 64)))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    cases = {
        empty: "empty",
        text: "not an image",
        truncated: "truncated",
        tmp_path / "missing.png": "no such file",
        tmp_path: "folder",
    }
    for path, problem in cases.items():
        with pytest.raises(ImageReadError, match=problem) as caught:
            load_image(path)
        assert str(caught.value).startswith(f"{path}: ")


def test_too_many_pixels_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    big = _save(tmp_path, "big.png", Image.fromarray(_rgb(20, 20)))
    with pytest.raises(ImageReadError, match="400 pixels, over the limit of 100") as caught:
        load_image(big, max_pixels=100)
    assert str(caught.value).startswith(f"{big}: ")
    assert load_image(big, max_pixels=400).pixels.shape == (3, 20, 20)
    # Pillow's own limit: errors above 2× it, only warns between 1× and 2× -- both are refused.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    medium = _save(tmp_path, "medium.png", Image.fromarray(_rgb(10, 15)))
    for path, count in ((big, 400), (medium, 150)):
        with pytest.raises(ImageReadError, match=f"{count} pixels, over the limit of 100"):
            load_image(path)
    assert not [w for w in recwarn.list if issubclass(w.category, Image.DecompressionBombWarning)]


def test_save_round_trip_is_exact_to_rounding(tmp_path: Path) -> None:
    pixels = torch.rand(3, 9, 11, generator=torch.Generator().manual_seed(1))
    path = tmp_path / "nested" / "out.png"
    save_image(pixels[None], path)  # a batch of one is accepted
    loaded = load_image(path).pixels
    torch.testing.assert_close(loaded, (pixels * 255).round() / 255, atol=1e-7, rtol=0)
    assert (loaded - pixels).abs().max() <= 0.5 / 255 + 1e-6
    assert list(path.parent.iterdir()) == [path]


def test_save_rounds_to_nearest_and_clamps(tmp_path: Path) -> None:
    pixels = torch.tensor([10.6 / 255, 10.4 / 255, -0.5, 1.5]).reshape(1, 1, 4)
    save_image(pixels, tmp_path / "grey.png")
    assert np.asarray(Image.open(tmp_path / "grey.png")).tolist() == [[11, 10, 0, 255]]


def _png_with_orientation(png: bytes, orientation: int) -> bytes:
    """A PNG with an eXIf chunk (EXIF Orientation) right after its IHDR."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes().removeprefix(b"Exif\x00\x00")
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + struct.pack(">I", zlib.crc32(b"eXIf" + data))
    return png[:33] + chunk + png[33:]  # 8-byte signature + 25-byte IHDR


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_colour_keeps_its_values_both_ways(tmp_path: Path, suffix: str, channels: int) -> None:
    levels = RNG.integers(0, 65536, (5, 7, channels), dtype=np.uint16)
    levels[0, 0, 0], levels[0, 1, 0] = 1000, 1001  # the same 8-bit level: equal after any 8-bit detour
    path = tmp_path / f"deep{suffix}"
    assert cv2.imwrite(str(path), levels[..., [2, 1, 0, 3][:channels]])  # OpenCV writes BGR(A)
    data = load_image(path, channels=3)
    assert data.bit_depth == 16 and data.pixels.shape == (3, 5, 7)
    assert torch.equal(data.pixels, torch.from_numpy(levels[..., :3].transpose(2, 0, 1).astype(np.float32) / 65535))
    assert (data.alpha is not None) == (channels == 4)
    copy = tmp_path / f"copy{suffix}"
    save_image(data.pixels, copy, bit_depth=16, alpha=data.alpha)
    reread = cv2.imread(str(copy), cv2.IMREAD_UNCHANGED)
    assert reread.dtype == np.uint16 and np.array_equal(reread[..., [2, 1, 0, 3][:channels]], levels)
    # 8 bits asked for, or a format without 16-bit colour: 8-bit files as before.
    save_image(data.pixels, tmp_path / "eight.png", bit_depth=8)
    save_image(data.pixels, tmp_path / "deep.jpg", bit_depth=16)
    assert Image.open(tmp_path / "eight.png").mode == "RGB" and Image.open(tmp_path / "deep.jpg").mode == "RGB"


def _tiff_with_orientation(levels: np.ndarray, orientation: int) -> bytes:
    """An uncompressed little-endian 16-bit RGB TIFF with an Orientation tag."""
    height, width, channels = levels.shape
    pixels = levels.astype("<u2").tobytes()
    tags = 11
    bits_at = 8 + 2 + 12 * tags + 4  # header, then the IFD, then the BitsPerSample values
    pixels_at = bits_at + 2 * channels
    entries = sorted([
        (256, 3, 1, width), (257, 3, 1, height), (258, 3, channels, bits_at), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 1, pixels_at), (274, 3, 1, orientation), (277, 3, 1, channels), (278, 3, 1, height),
        (279, 4, 1, len(pixels)), (284, 3, 1, 1),
    ])
    ifd = struct.pack("<H", tags) + b"".join(
        struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1 else struct.pack("<I", value))
        for tag, kind, count, value in entries
    ) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack(f"<{channels}H", *[16] * channels) + pixels


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_sixteen_bit_colour_follows_exif_orientation_like_eight_bit(tmp_path: Path, suffix: str, orientation: int) -> None:
    levels = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    path = tmp_path / f"turned{suffix}"
    if suffix == ".png":
        path.write_bytes(_png_with_orientation(cv2.imencode(".png", levels)[1].tobytes(), orientation))
    else:  # OpenCV turns a TIFF by its Orientation tag itself, unlike a PNG's eXIf
        path.write_bytes(_tiff_with_orientation(levels, orientation))
    data = load_image(path)
    deep = np.round(data.pixels.numpy() * 65535).astype(np.int64)
    assert data.bit_depth == 16 and (deep % 257 != 0).any()  # not an 8-bit read stored in 16 bits
    # Pillow decodes the same file in 8 bits (the high byte), turned by ImageOps.exif_transpose.
    eight = np.asarray(load_pil(path)).transpose(2, 0, 1).astype(np.int64)
    assert deep.shape == eight.shape and np.array_equal(deep >> 8, eight)


def _png(levels: np.ndarray, colour_type: int, transparent: tuple[int, ...] | None = None) -> bytes:
    """A 16-bit PNG of ``levels`` [H, W, C] (colour type 0: grey, 2: RGB, 4: grey + alpha), written
    by hand, with ``transparent`` as its one transparent level or colour (a tRNS chunk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = levels.shape[:2]
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in levels)
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    trns = b"" if transparent is None else chunk(b"tRNS", struct.pack(f">{len(transparent)}H", *transparent))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + trns + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("colour_type, channels", [(0, 1), (2, 3)])
def test_sixteen_bit_png_with_a_transparent_colour_keeps_depth_and_transparency(
    tmp_path: Path, colour_type: int, channels: int
) -> None:
    levels = RNG.integers(0, 65536, (4, 6, channels), dtype=np.uint16)
    key = tuple(int(v) for v in levels[0, 0])
    levels[2, 3] = key
    levels[1, 1] = key
    levels[1, 1, -1] ^= 1  # differs from the transparent colour in the low byte only: stays opaque
    path = tmp_path / "keyed.png"
    path.write_bytes(_png(levels, colour_type, key))
    data = load_image(path, channels=3)
    assert data.bit_depth == 16
    expected_colour = np.repeat(levels, 3, axis=-1) if channels == 1 else levels
    assert np.array_equal(np.round(data.pixels.numpy() * 65535).astype(np.uint16), expected_colour.transpose(2, 0, 1))
    transparent = np.all(levels == np.array(key, dtype=np.uint16), axis=-1)
    assert data.alpha is not None and np.array_equal(data.alpha[0].numpy(), (~transparent).astype(np.float32))
    assert data.alpha[0, 1, 1] == 1 and data.alpha[0, 2, 3] == 0
    if channels == 3:  # written back as 16-bit RGBA
        save_image(data.pixels, tmp_path / "out.png", bit_depth=16, alpha=data.alpha)
        again = load_image(tmp_path / "out.png", channels=3)
        assert again.bit_depth == 16 and again.alpha is not None and torch.equal(again.alpha, data.alpha)
        assert torch.equal(again.pixels, data.pixels)


@pytest.mark.parametrize("plain", [False, True])
@pytest.mark.parametrize("maxval", [65535, 4095])
def test_deep_ppm_keeps_its_depth(tmp_path: Path, maxval: int, plain: bool) -> None:
    levels = RNG.integers(0, maxval + 1, (4, 6, 3), dtype=np.uint16)
    header = f"{'P3' if plain else 'P6'}\n# a comment\n6 4\n{maxval}\n".encode()
    # A plain file's last sample with no whitespace after it, which OpenCV refuses to decode.
    body = " ".join(map(str, levels.ravel())).encode() if plain else levels.astype(">u2").tobytes()
    (tmp_path / "deep.ppm").write_bytes(header + body)
    data = load_image(tmp_path / "deep.ppm")
    assert data.bit_depth == 16
    assert np.array_equal(np.round(data.pixels.numpy() * maxval).astype(np.uint16), levels.transpose(2, 0, 1))


def test_sixteen_bit_grey_with_alpha_stays_grey(tmp_path: Path) -> None:
    levels = RNG.integers(0, 65536, (4, 6, 2), dtype=np.uint16)
    (tmp_path / "la.png").write_bytes(_png(levels, colour_type=4))
    data = load_image(tmp_path / "la.png", channels=1)
    assert (data.source_mode, data.bit_depth) == ("LA", 16)
    assert torch.equal(data.pixels[0], torch.from_numpy(levels[..., 0].astype(np.float32) / 65535))
    assert data.alpha is not None and torch.equal(data.alpha[0], torch.from_numpy(levels[..., 1].astype(np.float32) / 65535))
    # Written back as 16-bit grey + alpha, every level exact: read by OpenCV (an independent
    # decoder, which gives grey + alpha as BGRA) and by load_image.
    out = tmp_path / "out.png"
    save_image(data.pixels, out, bit_depth=16, alpha=data.alpha)
    assert out.read_bytes()[24:26] == bytes([16, 4])  # IHDR: bit depth 16, colour type 4
    decoded = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint16 and np.array_equal(decoded[..., [0, 3]], levels)
    again = load_image(out, channels=1)
    assert (again.source_mode, again.bit_depth) == ("LA", 16)
    assert torch.equal(again.pixels, data.pixels) and torch.equal(again.alpha, data.alpha)


def test_jpeg_composites_alpha_on_white(tmp_path: Path) -> None:
    pixels = torch.zeros(3, 8, 8)
    alpha = torch.zeros(1, 8, 8)
    alpha[:, :, :4] = 1  # left half opaque black, right half transparent
    path = tmp_path / "flat.jpg"
    save_image(pixels, path, alpha=alpha)
    reread = np.asarray(Image.open(path)).astype(float)
    assert reread[:, :3].mean() < 20 and reread[:, 5:].mean() > 235


def test_save_rejects_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\)"):
        save_image(torch.rand(2, 3, 4, 4), tmp_path / "batch.png")
    with pytest.raises(ValueError):
        save_image(torch.rand(4, 4), tmp_path / "flat.png")
    with pytest.raises(ValueError, match=r"(?s)\(3, 4, 4\).*\(1, 5, 4\)"):
        save_image(torch.rand(3, 4, 4), tmp_path / "alpha.png", alpha=torch.rand(1, 5, 4))
    with pytest.raises(ValueError):
        save_image(torch.rand(2, 4, 4), tmp_path / "two.png")
    with pytest.raises(ValueError):
        save_image(torch.rand(3, 4, 4), tmp_path / "picture.xyz")
    assert list(tmp_path.iterdir()) == []


def test_to_pil_modes() -> None:
    assert to_pil(torch.rand(1, 2, 2)).mode == "L"
    assert to_pil(torch.rand(1, 2, 2), bit_depth=16).mode == "I;16"
    assert to_pil(torch.rand(1, 2, 2), bit_depth=16, alpha=torch.rand(1, 2, 2)).mode == "LA"
    assert to_pil(torch.rand(3, 2, 2), alpha=torch.rand(1, 2, 2)).mode == "RGBA"
    assert to_pil(torch.rand(4, 2, 2)).mode == "RGBA"


def test_atomic_write_leaves_nothing_when_the_body_raises(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "result.png"
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as temporary:
        assert temporary.parent == target.parent and temporary.suffix == ".png"
        assert temporary.name.startswith(".result.png.tmp-")
        temporary.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert list(target.parent.iterdir()) == []


def test_atomic_write_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    target.write_text("old")
    with atomic_write(target) as temporary:
        temporary.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_list_images_sorted_and_skipping_hidden(tmp_path: Path) -> None:
    for name in ["b.png", "a.JPG", "sub/c.webp", "sub/deeper/d.tif", ".hidden.png", ".cache/e.png", "notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    expected = ["a.JPG", "b.png", "sub/c.webp", "sub/deeper/d.tif"]
    assert list_images(tmp_path) == [tmp_path / name for name in expected]
    assert list_images(tmp_path, recursive=False) == [tmp_path / "a.JPG", tmp_path / "b.png"]
    with pytest.raises(NotADirectoryError):
        list_images(tmp_path / "missing")


def test_is_image_file_by_extension() -> None:
    assert is_image_file("x.PNG") and is_image_file(Path("a/b.tiff")) and is_image_file("c.pgm")
    assert not is_image_file("notes.txt") and not is_image_file("png")


def test_atomic_folder_gets_the_permissions_of_a_plain_folder(tmp_path: Path) -> None:
    from translate.imageio import atomic_folder, commit_folder

    plain = tmp_path / "plain"
    plain.mkdir()
    staged = atomic_folder(tmp_path / "result")
    commit_folder(staged, tmp_path / "result")
    assert (tmp_path / "result").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
