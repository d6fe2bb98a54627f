"""Image-to-image generators: U-Net (pix2pix) and ResNet (CycleGAN), both class-conditionable.

Both take images in [-1, 1] and return images in [-1, 1] (tanh). With ``norm="cbn"`` they own a
class embedding and take ``labels`` (class indices ``[N]`` or class weights ``[N, K]``).
``size_multiple`` tells the inference padding what height and width the network needs.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from translate.nn import (
    ClassEmbedding,
    ConditionalModule,
    ConditionalSequential,
    NormKind,
    ReflectionPad2d,
    make_norm,
    norm_needs_conv_bias,
)

UpsampleKind = Literal["transpose", "resize"]


def _upsample_conv(in_channels: int, out_channels: int, kind: UpsampleKind, bias: bool) -> nn.Module:
    """×2 upsampling: transposed convolution, or nearest resize + 3×3 convolution (no checkerboard)."""
    if kind == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
    if kind == "resize":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
        )
    raise ValueError(f"unknown upsample {kind!r}; choose one of: transpose, resize")


class _ConditionedGenerator(nn.Module):
    """Shared handling of the optional class embedding."""

    class_embedding: ClassEmbedding | None

    def _setup_condition(self, norm: NormKind, num_classes: int, embedding_dim: int) -> int:
        if norm == "cbn":
            if num_classes < 1:
                raise ValueError("norm 'cbn' needs num_classes >= 1")
            self.class_embedding = ClassEmbedding(num_classes, embedding_dim)
            return embedding_dim
        self.class_embedding = None
        return 0

    @property
    def num_classes(self) -> int:
        return self.class_embedding.num_classes if self.class_embedding is not None else 0

    def _condition(self, labels: Tensor | None) -> Tensor | None:
        if self.class_embedding is None:
            if labels is not None:
                raise ValueError("this generator is not class-conditional; do not pass labels")
            return None
        if labels is None:
            raise ValueError("this generator is class-conditional; pass labels (indices or class weights)")
        return self.class_embedding(labels)


class _Normed(ConditionalModule):
    """Wraps any norm so it can sit in a :class:`ConditionalSequential`."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return self.norm(x, condition) if isinstance(self.norm, ConditionalModule) else self.norm(x)


class _UNetDown(ConditionalModule):
    def __init__(self, in_ch: int, out_ch: int, norm: NormKind | None, cond_dim: int, outermost: bool) -> None:
        super().__init__()
        bias = norm is None or norm_needs_conv_bias(norm)
        # The reference applies LeakyReLU before every convolution except the first.
        self.act = nn.Identity() if outermost else nn.LeakyReLU(0.2)
        self.conv = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=bias)
        self.norm = _Normed(make_norm(norm, out_ch, cond_dim) if norm is not None else nn.Identity())

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return self.norm(self.conv(self.act(x)), condition)


class _UNetUp(ConditionalModule):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        norm: NormKind | None,
        cond_dim: int,
        upsample: UpsampleKind,
        dropout: float,
    ) -> None:
        super().__init__()
        bias = norm is None or norm_needs_conv_bias(norm)
        self.act = nn.ReLU()
        self.up = _upsample_conv(in_ch, out_ch, upsample, bias)
        self.norm = _Normed(make_norm(norm, out_ch, cond_dim) if norm is not None else nn.Identity())
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return self.dropout(self.norm(self.up(self.act(x)), condition))


class UNetGenerator(_ConditionedGenerator):
    """The pix2pix U-Net: ``num_downs`` stride-2 encoders, mirrored decoders, skip connections.

    A 256×256 image needs ``num_downs=8`` to reach a 1×1 bottleneck; inputs must be multiples
    of ``2 ** num_downs`` (see :attr:`size_multiple`; inference pads to it).

    Args:
        in_channels: channels of the input image.
        out_channels: channels of the output image.
        num_downs: number of down-sampling steps (at least 2).
        ngf: width of the first layer; deeper layers use up to ``8 * ngf``.
        norm: normalisation in every block but the outermost and innermost encoders.
        dropout: dropout in the decoder blocks at width ``8 * ngf`` below the bottleneck, as in
            pix2pix, where it is the generator's only noise.
        upsample: ``transpose`` or ``resize`` (+ convolution).
        num_classes: classes for ``norm="cbn"``; ignored otherwise.
        embedding_dim: class-embedding size for ``norm="cbn"``.

    Shape:
        x: ``[N, in_channels, H, W]`` with H, W multiples of ``2 ** num_downs``;
        output: ``[N, out_channels, H, W]`` in [-1, 1].
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: NormKind = "instance",
        dropout: float = 0.5,
        upsample: UpsampleKind = "transpose",
        num_classes: int = 0,
        embedding_dim: int = 128,
    ) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be at least 2, got {num_downs}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_downs = num_downs
        cond_dim = self._setup_condition(norm, num_classes, embedding_dim)
        widths = [ngf * min(2**level, 8) for level in range(num_downs)]
        innermost = num_downs - 1

        downs = []
        for level in range(num_downs):
            in_ch = in_channels if level == 0 else widths[level - 1]
            # No norm on the outermost encoder (raw pixels) nor on the 1×1 bottleneck.
            level_norm = None if level in (0, innermost) else norm
            downs.append(_UNetDown(in_ch, widths[level], level_norm, cond_dim, outermost=level == 0))
        self.downs = nn.ModuleList(downs)

        ups = []
        for level in reversed(range(1, num_downs)):
            in_ch = widths[level] if level == innermost else widths[level] * 2
            level_dropout = dropout if 4 <= level < innermost else 0.0
            ups.append(_UNetUp(in_ch, widths[level - 1], norm, cond_dim, upsample, level_dropout))
        self.ups = nn.ModuleList(ups)
        self.outermost_up = nn.Sequential(
            nn.ReLU(),
            _upsample_conv(widths[0] * 2, out_channels, upsample, bias=True),
            nn.Tanh(),
        )

    @property
    def size_multiple(self) -> int:
        return 2**self.num_downs

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, H, W], got {tuple(x.shape)}")
        multiple = self.size_multiple
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(
                f"height and width must be multiples of {multiple}, got {tuple(x.shape[-2:])}; "
                "use translate.tiling.run_padded for other sizes"
            )
        condition = self._condition(labels)
        skips = []
        for down in self.downs:
            x = down(x, condition)
            skips.append(x)
        skips.pop()  # the bottleneck feeds the first decoder directly
        for up in self.ups:
            x = torch.cat([up(x, condition), skips.pop()], dim=1)
        return self.outermost_up(x)


class _ResnetBlock(ConditionalModule):
    def __init__(self, channels: int, norm: NormKind, cond_dim: int, dropout: float) -> None:
        super().__init__()
        bias = norm_needs_conv_bias(norm)
        self.body = ConditionalSequential(
            ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            _Normed(make_norm(norm, channels, cond_dim)),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            _Normed(make_norm(norm, channels, cond_dim)),
        )

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return x + self.body(x, condition)


class ResNetGenerator(_ConditionedGenerator):
    """The CycleGAN generator: two stride-2 downsamplings, residual blocks, two upsamplings.

    Args:
        in_channels: channels of the input image.
        out_channels: channels of the output image.
        ngf: width of the first layer (residual blocks run at ``4 * ngf``).
        n_blocks: residual blocks (9 for 256 px, 6 for 128 px and below).
        norm: normalisation after every convolution but the last.
        dropout: dropout inside the residual blocks (off in CycleGAN).
        upsample: ``transpose`` or ``resize`` (+ convolution).
        num_classes: classes for ``norm="cbn"``; ignored otherwise.
        embedding_dim: class-embedding size for ``norm="cbn"``.

    Shape:
        x: ``[N, in_channels, H, W]`` with H, W multiples of 4 and at least 8; output
        ``[N, out_channels, H, W]``.
    """

    size_multiple = 4
    # After the two stride-2 convolutions the residual blocks' reflection padding and instance
    # norms need at least 2×2 pixels.
    min_side = 8

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: NormKind = "instance",
        dropout: float = 0.0,
        upsample: UpsampleKind = "transpose",
        num_classes: int = 0,
        embedding_dim: int = 128,
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        cond_dim = self._setup_condition(norm, num_classes, embedding_dim)
        bias = norm_needs_conv_bias(norm)
        layers: list[nn.Module] = [
            ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            _Normed(make_norm(norm, ngf, cond_dim)),
            nn.ReLU(),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                _Normed(make_norm(norm, ngf * mult * 2, cond_dim)),
                nn.ReLU(),
            ]
        layers += [_ResnetBlock(ngf * 4, norm, cond_dim, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                _upsample_conv(ngf * mult, ngf * mult // 2, upsample, bias),
                _Normed(make_norm(norm, ngf * mult // 2, cond_dim)),
                nn.ReLU(),
            ]
        layers += [ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.body = ConditionalSequential(*layers)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, H, W], got {tuple(x.shape)}")
        if x.shape[-2] % 4 or x.shape[-1] % 4 or min(x.shape[-2:]) < self.min_side:
            raise ValueError(
                f"height and width must be multiples of 4 and at least {self.min_side}, got {tuple(x.shape[-2:])}; "
                "use translate.tiling.run_padded(..., min_side=generator.min_side) for other sizes"
            )
        return self.body(x, self._condition(labels))
