"""Padding and tiling: every path must give what running the function on the whole image gives."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from translate.networks import GeneratorConfig, build_generator
from translate.tiling import pad_to_multiple, run_padded, run_tiled, tile_grid


def _images(height: int = 37, width: int = 53, batch: int = 2, channels: int = 3) -> Tensor:
    return torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(0))


class _NeedsMultipleOf4(nn.Module):
    """Stride-4 conv then pixel shuffle: same size out, but only for sides that are multiples of 4."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 3 * 16, kernel_size=4, stride=4)
        self.up = nn.PixelShuffle(4)

    def forward(self, x: Tensor) -> Tensor:
        assert x.shape[-2] % 4 == 0 and x.shape[-1] % 4 == 0, x.shape
        return self.up(self.down(x))


def _conv_net() -> nn.Module:
    """Three 3×3 convs: receptive radius 3 pixels, zero padding at the borders."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 3, padding=1)
    ).eval()


@pytest.mark.parametrize("multiple", [1, 4, 8, 64])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "constant"])
def test_pad_to_multiple_then_crop_gives_back_x(multiple: int, mode: str) -> None:
    x = _images()
    padded, (height, width) = pad_to_multiple(x, multiple, mode)
    assert (height, width) == (37, 53)
    assert padded.shape[-2] % max(multiple, 1) == 0 and padded.shape[-1] % max(multiple, 1) == 0
    assert padded.shape[-2] - 37 < max(multiple, 1) and padded.shape[-1] - 53 < max(multiple, 1)
    assert torch.equal(padded[..., :height, :width], x)


def test_pad_to_multiple_leaves_aligned_input_alone_and_pads_tiny_input() -> None:
    x = _images(32, 16)
    assert pad_to_multiple(x, 8)[0] is x
    assert pad_to_multiple(x, 1)[0] is x
    # A 2×3 image padded to 8 needs pads larger than the image: reflect falls back to replicate.
    tiny = _images(2, 3)
    padded, _ = pad_to_multiple(tiny, 8)
    assert padded.shape[-2:] == (8, 8)
    assert torch.equal(padded[..., -1, :3], tiny[..., -1, :])


def test_a_minimum_side_pads_small_images_up_to_it() -> None:
    strip = _images(3, 30)
    padded, size = pad_to_multiple(strip, 4, min_side=8)
    assert padded.shape[-2:] == (8, 32) and size == (3, 30)
    assert pad_to_multiple(_images(8, 12), 4, min_side=8)[0].shape[-2:] == (8, 12)
    assert pad_to_multiple(_images(1, 1), 1, min_side=8)[0].shape[-2:] == (8, 8)


@pytest.mark.parametrize("size", [(1, 1), (3, 300), (4, 4), (7, 9)])
def test_resnet_generator_runs_on_images_smaller_than_its_bottleneck(size: tuple[int, int]) -> None:
    """Below 8 px a side, the residual blocks would see 1 pixel: padded up to 8, cropped back."""
    generator = build_generator(GeneratorConfig(kind="resnet", ngf=4, n_blocks=1), 3, 3, 32).eval()
    with pytest.raises(ValueError, match=r"at least 8, got \(4, 4\)"):
        generator(_images(4, 4)[:1])
    with torch.no_grad():
        out = run_padded(generator, _images(*size), generator.size_multiple, min_side=generator.min_side)
    assert out.shape == (2, 3, *size) and torch.isfinite(out).all()


def test_run_padded_identity_and_network_needing_multiples() -> None:
    x = _images()
    assert torch.equal(run_padded(lambda t: t, x, 16), x)
    net = _NeedsMultipleOf4()
    with pytest.raises(AssertionError):
        net(x)
    with torch.no_grad():
        out = run_padded(net, x, 4)
        assert out.shape == (2, 3, 37, 53)
        padded, _ = pad_to_multiple(x, 4)
        assert torch.equal(out, net(padded)[..., :37, :53])


def test_run_padded_with_scale() -> None:
    x = _images()

    def upsample(t: Tensor) -> Tensor:
        assert t.shape[-2] % 8 == 0 and t.shape[-1] % 8 == 0
        return F.interpolate(t, scale_factor=2, mode="nearest")

    out = run_padded(upsample, x, 8, scale=2)
    assert out.shape == (2, 3, 74, 106)
    assert torch.equal(out, F.interpolate(x, scale_factor=2, mode="nearest"))
    with pytest.raises(ValueError, match="scale=3"):
        run_padded(upsample, x, 8, scale=3)


@pytest.mark.parametrize(
    ("tile", "overlap", "multiple"),
    [(16, 4, 1), (16, 5, 8), (12, 0, 4), (8, 3, 1), (32, 15, 1), (64, 8, 16), (40, 19, 1)],
)
def test_run_tiled_pointwise_equals_untiled(tile: int, overlap: int, multiple: int) -> None:
    x = _images()
    out = run_tiled(lambda t: t * 2 + 1, x, tile, overlap, multiple)
    torch.testing.assert_close(out, x * 2 + 1, atol=1e-6, rtol=0)


def test_run_tiled_output_channels_come_from_fn() -> None:
    x = _images()
    out = run_tiled(lambda t: t.sum(1, keepdim=True), x, 16, 4)
    assert out.shape == (2, 1, 37, 53)
    torch.testing.assert_close(out, x.sum(1, keepdim=True), atol=1e-5, rtol=0)


def test_run_tiled_with_scale_equals_untiled() -> None:
    x = _images()

    def upsample(t: Tensor) -> Tensor:
        return F.interpolate(t, scale_factor=2, mode="nearest")

    for tile, overlap in [(16, 4), (20, 9), (64, 0)]:
        out = run_tiled(upsample, x, tile, overlap, multiple=4, scale=2)
        assert out.shape == (2, 3, 74, 106)
        torch.testing.assert_close(out, upsample(x), atol=1e-6, rtol=0)


def test_run_tiled_conv_net_matches_untiled() -> None:
    net = _conv_net()
    x = _images(70, 90, batch=1)
    with torch.no_grad():
        whole = net(x)
        # No padding anywhere: tiles see the image borders exactly as the whole image does.
        torch.testing.assert_close(run_tiled(net, x, 40, 16), whole, atol=1e-4, rtol=0)
        # With a multiple, the whole image gets reflect padding at the bottom/right that flush
        # edge tiles do not, so only the interior must match.
        padded_whole = run_padded(net, x, 8)
        tiled = run_tiled(net, x, 32, 12, multiple=8)
    torch.testing.assert_close(tiled[..., 4:-4, 4:-4], padded_whole[..., 4:-4, 4:-4], atol=1e-4, rtol=0)


def test_run_tiled_cross_fades_instead_of_a_seam() -> None:
    # Each tile returns a constant: its index. Across the overlap the output must ramp smoothly.
    calls = []

    def tile_index(t: Tensor) -> Tensor:
        calls.append(None)
        return torch.full_like(t, float(len(calls) - 1))

    x = torch.zeros(1, 1, 8, 52)
    out = run_tiled(tile_index, x, 32, 12)[0, 0, 0]
    assert len(calls) == 2  # tiles at 0 and 20, overlapping on [20, 32)
    assert torch.all(out[:20] == 0) and torch.all(out[32:] == 1)
    steps = out[1:] - out[:-1]
    assert torch.all(steps >= 0)
    assert steps.max() < 0.5


@pytest.mark.parametrize("length", [1, 5, 16, 17, 37, 100, 257])
@pytest.mark.parametrize(("tile", "overlap"), [(16, 0), (16, 4), (16, 7), (32, 15), (8, 3)])
def test_tile_grid_covers_every_pixel(length: int, tile: int, overlap: int) -> None:
    starts = tile_grid(length, tile, overlap)
    assert starts[0] == 0 and starts == sorted(set(starts))
    covered = torch.zeros(length, dtype=torch.bool)
    for start in starts:
        assert 0 <= start and (start + tile <= length or length <= tile)
        covered[start : start + tile] = True
    assert covered.all()
    if length > tile:
        assert starts[-1] == length - tile
        # Neighbours share at least `overlap` pixels, so there is room to blend.
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_bad_arguments_raise_value_error() -> None:
    x = _images()
    with pytest.raises(ValueError, match=r"(?s)(4.*10|10.*4)"):
        run_tiled(lambda t: t, x, 10, 2, multiple=4)
    with pytest.raises(ValueError, match="overlap"):
        run_tiled(lambda t: t, x, 16, 8)
    with pytest.raises(ValueError, match="overlap"):
        run_tiled(lambda t: t, x, 16, -1)
    with pytest.raises(ValueError):
        run_tiled(lambda t: t, x, 0, 0)
    with pytest.raises(ValueError):
        run_tiled(lambda t: t, x[0], 16, 4)
    with pytest.raises(ValueError):
        pad_to_multiple(x[0], 4)
    with pytest.raises(ValueError):
        tile_grid(10, 8, 8)
