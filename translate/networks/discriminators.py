"""Discriminators: PatchGAN, per-pixel, and a multi-scale wrapper. All return raw logits.

A conditional discriminator (pix2pix) is the same network fed the condition and the image
concatenated on channels; the pipeline does the concatenation.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from translate.nn import NormKind, make_norm, norm_needs_conv_bias


def _maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return _spectral_norm(module) if enabled else module


class _ImageClassifier(nn.Module):
    """Shared input checks of the single-scale discriminators; subclasses build ``self.body``."""

    body: nn.Sequential

    def __init__(self, in_channels: int, norm: NormKind) -> None:
        super().__init__()
        if norm == "cbn":
            raise ValueError("discriminators take norm batch, instance or none (cbn is for generators)")
        self.in_channels = in_channels

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, H, W], got {tuple(x.shape)}")
        return self.body(x)


class PatchDiscriminator(_ImageClassifier):
    """PatchGAN: a fully convolutional classifier whose every output logit sees one patch.

    With ``n_layers=3`` each logit has a 70×70 receptive field (the pix2pix default).

    Args:
        in_channels: input channels (condition + image channels for a conditional D).
        ndf: width of the first layer; deeper layers use up to ``8 * ndf``.
        n_layers: stride-2 convolutions after the first.
        norm: ``batch``, ``instance`` or ``none`` (``cbn`` is for generators).
        spectral_norm: wrap every convolution in spectral normalisation.

    Shape:
        x: ``[N, in_channels, H, W]``; output: ``[N, 1, H', W']`` logits,
        ``H' ≈ H / 2 ** n_layers - 2``.
    """

    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        norm: NormKind = "instance",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__(in_channels, norm)
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        # Spectral norm replaces the need for a norm layer's statistics; keep the bias then.
        bias = norm_needs_conv_bias(norm) or spectral_norm
        layers: list[nn.Module] = [
            _maybe_sn(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), spectral_norm),
            nn.LeakyReLU(0.2),
        ]
        width = ndf
        for layer in range(1, n_layers + 1):
            next_width = ndf * min(2**layer, 8)
            stride = 2 if layer < n_layers else 1
            layers += [
                _maybe_sn(nn.Conv2d(width, next_width, 4, stride=stride, padding=1, bias=bias), spectral_norm),
                make_norm(norm, next_width),
                nn.LeakyReLU(0.2),
            ]
            width = next_width
        layers.append(_maybe_sn(nn.Conv2d(width, 1, 4, stride=1, padding=1), spectral_norm))
        self.body = nn.Sequential(*layers)


class PixelDiscriminator(_ImageClassifier):
    """A 1×1 PatchGAN: classifies every pixel on its own (colour statistics, no structure).

    Shape:
        x: ``[N, in_channels, H, W]``; output: ``[N, 1, H, W]`` logits.
    """

    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        norm: NormKind = "instance",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__(in_channels, norm)
        bias = norm_needs_conv_bias(norm) or spectral_norm
        self.body = nn.Sequential(
            _maybe_sn(nn.Conv2d(in_channels, ndf, 1), spectral_norm),
            nn.LeakyReLU(0.2),
            _maybe_sn(nn.Conv2d(ndf, ndf * 2, 1, bias=bias), spectral_norm),
            make_norm(norm, ndf * 2),
            nn.LeakyReLU(0.2),
            _maybe_sn(nn.Conv2d(ndf * 2, 1, 1, bias=bias), spectral_norm),
        )


class MultiScaleDiscriminator(nn.Module):
    """Several discriminators of the same design, each on a 2× smaller copy of the input.

    Shape:
        x: ``[N, C, H, W]``; output: a list of logits, finest scale first.
    """

    def __init__(self, discriminators: list[nn.Module]) -> None:
        super().__init__()
        if not discriminators:
            raise ValueError("MultiScaleDiscriminator needs at least one discriminator")
        self.scales = nn.ModuleList(discriminators)

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for index, discriminator in enumerate(self.scales):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs
