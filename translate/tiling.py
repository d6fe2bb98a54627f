"""Run a network on any image size: pad to the multiple it needs, or cut into blended tiles.

Shared by every pipeline, ``convert``, evaluation and the apps, so a given image is padded
and tiled the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

# Weight of the pixels a tile should not contribute to; not 0 so the weight sum is never 0.
_EPSILON = 1e-6


def pad_to_multiple(
    x: Tensor, multiple: int, mode: str = "reflect", min_side: int = 1
) -> tuple[Tensor, tuple[int, int]]:
    """Pad the bottom and right so height and width become multiples of ``multiple``, and at
    least ``min_side``.

    Args:
        x: images to pad.
        multiple: the size multiple the network needs; 1 or less means any size.
        mode: a :func:`torch.nn.functional.pad` mode. ``"reflect"`` becomes ``"replicate"``
            when a pad is not smaller than the side it pads (reflection needs pad < size).
        min_side: the smallest side the network takes (a ResNet generator: 8).

    Returns:
        The padded images and the original ``(H, W)``, to crop back to.

    Shape:
        x: ``[N, C, H, W]``; padded: ``[N, C, H', W']`` with ``H' = ceil(max(H, min_side) / multiple) * multiple``.
    """
    if x.ndim != 4:
        raise ValueError(f"expected [N, C, H, W] images, got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    multiple = max(1, multiple)

    def padded(side: int) -> int:
        return math.ceil(max(side, min_side) / multiple) * multiple

    pad_bottom, pad_right = padded(height) - height, padded(width) - width
    if pad_bottom == 0 and pad_right == 0:
        return x, (height, width)
    if mode == "reflect" and (pad_bottom >= height or pad_right >= width):
        mode = "replicate"
    return F.pad(x, (0, pad_right, 0, pad_bottom), mode=mode), (height, width)


def run_padded(
    fn: Callable[[Tensor], Tensor], x: Tensor, multiple: int, scale: int = 1, min_side: int = 1
) -> Tensor:
    """Pad ``x`` to a multiple (and to ``fn``'s smallest side), run ``fn`` on it and crop the result back.

    Args:
        fn: the network; its output is ``scale`` times its input in height and width.
        x: images of any size.
        multiple: the size multiple ``fn`` needs (1 for none).
        scale: output/input size ratio of ``fn`` (1 for translation, 2-4 for super-resolution).
        min_side: the smallest input side ``fn`` takes.

    Returns:
        ``fn``'s output for ``x``, without the padding.

    Shape:
        x: ``[N, C, H, W]``; output: ``[N, C_out, H * scale, W * scale]``.

    Raises:
        ValueError: ``fn``'s output is smaller than ``scale`` times its input.
    """
    padded, (height, width) = pad_to_multiple(x, multiple, min_side=min_side)
    output = fn(padded)
    expected = (padded.shape[-2] * scale, padded.shape[-1] * scale)
    if tuple(output.shape[-2:]) != expected:
        raise ValueError(
            f"fn turned a {tuple(padded.shape[-2:])} input into {tuple(output.shape[-2:])}, "
            f"expected {expected} for scale={scale}"
        )
    return output[..., : height * scale, : width * scale]


def tile_grid(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles along one axis.

    Tiles are ``tile`` long and start every ``tile - overlap``; the last one is moved back to end
    flush with the edge (so it may overlap its neighbour by more), and none passes the edge.
    A length not longer than the tile gives one tile at 0 (the caller pads it).

    Args:
        length: the image side.
        tile: the tile side.
        overlap: pixels shared by neighbouring tiles, ``0 <= overlap < tile``.

    Returns:
        Increasing start offsets; together the tiles cover ``[0, length)``.
    """
    if length <= 0 or tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"need length > 0, tile > 0 and 0 <= overlap < tile, got {length}, {tile}, {overlap}")
    if length <= tile:
        return [0]
    return [*range(0, length - tile, tile - overlap), length - tile]


def _window(length: int, fade: int, margin: int, lead: bool, trail: bool) -> Tensor:
    """1D blending weights of one tile: 1 in the middle, fading out on sides that meet another tile.

    On such a side the outermost ``margin`` pixels get weight epsilon (the tile's own border
    effects live there, and the neighbour has clean values for them), then a raised-cosine ramp
    of ``fade`` pixels rises to 1. Mirrored ramps of two neighbours sum to 1.
    """
    weights = torch.ones(length)
    ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(fade) + 0.5) / fade)
    edge = torch.cat([torch.full((margin,), _EPSILON), ramp])
    if lead:
        weights[: edge.numel()] = edge
    if trail:
        weights[length - edge.numel() :] = edge.flip(0)
    return weights


def _windows(starts: list[int], length: int, overlap: int, scale: int) -> list[Tensor]:
    """The window of each tile along one axis, in output pixels."""
    # A quarter of the overlap on each side is left to the neighbour: networks whose receptive
    # radius is below it then give exactly the untiled result; the middle half is cross-faded.
    margin = overlap // 4 * scale
    fade = overlap * scale - 2 * margin
    last = len(starts) - 1
    return [_window(length * scale, fade, margin, index > 0, index < last) for index in range(len(starts))]


def run_tiled(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    tile: int,
    overlap: int,
    multiple: int = 1,
    scale: int = 1,
    min_side: int = 1,
) -> Tensor:
    """Run ``fn`` tile by tile and blend the tiles, for images too big to process at once.

    Each tile goes through :func:`run_padded`, so edge tiles smaller than ``tile`` (images
    smaller than a tile) still work. Overlapping tiles are cross-faded with smooth separable
    weights that stay 1 on the image border; weighted outputs and weights accumulate in
    float32. Only one tile's output and the two accumulators are held at a time.

    Args:
        fn: the network; its output is ``scale`` times its input in height and width, with
            any number of channels.
        x: the images.
        tile: tile side in input pixels, a multiple of ``multiple``.
        overlap: pixels shared by neighbouring tiles, ``0 <= overlap < tile / 2``. Larger
            overlaps hide the tiles' own border effects better.
        multiple: the size multiple ``fn`` needs.
        scale: output/input size ratio of ``fn``.
        min_side: the smallest input side ``fn`` takes (smaller tiles are padded to it).

    Returns:
        The blended output, in ``fn``'s dtype.

    Shape:
        x: ``[N, C, H, W]``; output: ``[N, C_out, H * scale, W * scale]``.

    Raises:
        ValueError: bad ``tile``, ``overlap`` or ``multiple``, or ``x`` not 4D.
    """
    if x.ndim != 4:
        raise ValueError(f"expected [N, C, H, W] images, got shape {tuple(x.shape)}")
    if tile <= 0 or (multiple > 1 and tile % multiple):
        raise ValueError(f"tile must be a positive multiple of {multiple}, got tile={tile}")
    if not 0 <= overlap < tile / 2:
        raise ValueError(f"overlap must be at least 0 and below tile / 2 = {tile / 2}, got overlap={overlap}")
    height, width = x.shape[-2:]
    rows, columns = tile_grid(height, tile, overlap), tile_grid(width, tile, overlap)
    tile_height, tile_width = min(tile, height), min(tile, width)
    row_weights = _windows(rows, tile_height, overlap, scale)
    column_weights = _windows(columns, tile_width, overlap, scale)
    output: Tensor | None = None
    weight_sum: Tensor | None = None
    for top, row_weight in zip(rows, row_weights):
        for left, column_weight in zip(columns, column_weights):
            piece = run_padded(fn, x[..., top : top + tile_height, left : left + tile_width], multiple, scale, min_side)
            if output is None:
                # Allocated from the first tile: fn decides the output channels and device.
                size = (height * scale, width * scale)
                output = torch.zeros((x.shape[0], piece.shape[1], *size), device=piece.device)
                weight_sum = torch.zeros(size, device=piece.device)
            weight = (row_weight[:, None] * column_weight[None, :]).to(piece.device)
            rows_out = slice(top * scale, (top + tile_height) * scale)
            columns_out = slice(left * scale, (left + tile_width) * scale)
            output[..., rows_out, columns_out] += piece.float() * weight
            weight_sum[rows_out, columns_out] += weight
    return output.div_(weight_sum).to(piece.dtype)  # in place: the output can be hundreds of MB
