"""Super-resolution networks: SRResNet (with or without batch norm), ESRGAN's RRDB generator, SRGAN's discriminator.

Every generator takes images in [0, 1] and returns images ``scale`` times taller and wider in
the same range (a linear output, not clamped: the pipeline clamps). None of them is tied to an
input size. :class:`RRDBGenerator` keeps the parameter names of the RRDBNet that ESRGAN and
Real-ESRGAN publish weights for (``conv_first``, ``body.N.rdbM.convK``, ``conv_body``,
``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``), so those weights load without renaming.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from translate.nn import make_norm

SR_SCALES: tuple[int, ...] = (2, 3, 4)
RRDB_SCALES: tuple[int, ...] = (2, 4)
SRNorm = Literal["batch", "none"]
Activation = Literal["prelu", "relu"]


def _check_scale(scale: int, choices: tuple[int, ...], network: str) -> None:
    if scale not in choices:
        raise ValueError(f"{network} upscales by {', '.join(map(str, choices))}; got scale={scale}")


def _activation(kind: Activation) -> nn.Module:
    # SRGAN's PReLU has one learned slope per layer; EDSR uses plain ReLU.
    if kind == "prelu":
        return nn.PReLU()
    if kind == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {kind!r}; choose one of: prelu, relu")


def _kaiming_scaled(module: nn.Module, scale: float) -> None:
    """Kaiming-normal (fan-in) weights times ``scale``, zero biases, for every convolution in ``module``.

    A small ``scale`` (0.1) in residual branches starts each block near the identity, which is
    what lets EDSR/ESRGAN-depth stacks train stably without batch norm.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, a=0, mode="fan_in")
            layer.weight.data.mul_(scale)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def upsampling_factors(scale: int) -> list[int]:
    """The sub-pixel stages that make ``scale``: ×2 → [2], ×3 → [3], ×4 → [2, 2].

    Raises:
        ValueError: a scale other than 2, 3 or 4.
    """
    _check_scale(scale, SR_SCALES, "sub-pixel upsampling")
    return [3] if scale == 3 else [2] * int(math.log2(scale))


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel convolution (Shi et al. 2016): a 3×3 convolution to ``r² · C`` channels, then
    :class:`torch.nn.PixelShuffle` moves each group of ``r²`` channels into an ``r × r`` block.
    ×4 is two ×2 stages, as in SRGAN.

    Args:
        channels: feature channels ``C``, the same in and out.
        scale: 2, 3 or 4.
        activation: after each stage (``prelu`` in SRGAN, ``relu`` in EDSR).

    Shape:
        x: ``[N, C, H, W]``; output: ``[N, C, H * scale, W * scale]``.
    """

    def __init__(self, channels: int, scale: int, activation: Activation = "prelu") -> None:
        layers: list[nn.Module] = []
        for factor in upsampling_factors(scale):
            layers += [
                nn.Conv2d(channels, channels * factor**2, 3, padding=1),
                nn.PixelShuffle(factor),
                _activation(activation),
            ]
        super().__init__(*layers)
        self.scale = scale


class ResidualBlock(nn.Module):
    """conv-norm-act-conv-norm with an identity shortcut: ``x + res_scale · body(x)``.

    With ``norm="batch"`` and PReLU this is SRGAN's block; with ``norm="none"`` it is EDSR's
    batch-norm-free block (``res_scale`` 0.1 keeps wide EDSR models stable; 1 for 64 features).

    Shape:
        x: ``[N, C, H, W]``; output: the same.
    """

    def __init__(self, channels: int, norm: SRNorm, activation: Activation, res_scale: float = 1.0) -> None:
        super().__init__()
        bias = norm == "none"  # batch norm brings its own shift
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
            make_norm(norm, channels),
            _activation(activation),
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
            make_norm(norm, channels),
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) * self.res_scale


class SRResNetGenerator(nn.Module):
    """SRResNet (Ledig et al. 2017): a 9×9 head, residual blocks, a long skip over them, sub-pixel
    upsampling and a 9×9 tail. ``norm="none"`` gives the batch-norm-free variant (EDSR, ESRGAN),
    with SRGAN's PReLU kept.

    With ``image_skip`` the bilinear upscale of the input is added to the output, so the network
    only learns the missing detail (as BasicSR's MSRResNet); it converges faster from scratch.

    Args:
        in_channels: channels of the low-resolution input (1 or 3).
        out_channels: channels of the output; must equal ``in_channels`` with ``image_skip``.
        scale: 2, 3 or 4.
        num_features: width of every layer (64 in SRGAN).
        num_blocks: residual blocks (16 in SRGAN).
        norm: ``batch`` (SRGAN) or ``none`` (no batch norm).
        res_scale: factor on each block's residual branch.
        image_skip: add the bilinear upscale of the input to the output.

    Shape:
        x: ``[N, in_channels, H, W]`` in [0, 1]; output: ``[N, out_channels, H * scale, W * scale]``.
    """

    size_multiple = 1

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int = 4,
        num_features: int = 64,
        num_blocks: int = 16,
        norm: SRNorm = "batch",
        res_scale: float = 1.0,
        image_skip: bool = True,
    ) -> None:
        super().__init__()
        if num_blocks < 1 or num_features < 1:
            raise ValueError(f"num_blocks and num_features must be at least 1, got {num_blocks} and {num_features}")
        if image_skip and in_channels != out_channels:
            raise ValueError(f"image_skip needs in_channels == out_channels, got {in_channels} and {out_channels}")
        # SRGAN's PReLU in both variants: in tiny 300-step runs without batch norm it ended
        # 0.5-0.9 dB above EDSR's ReLU at ×2 and ×4.
        activation: Activation = "prelu"
        self.in_channels = in_channels
        self.scale = scale
        self.image_skip = image_skip
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_features, 9, padding=4), _activation(activation))
        self.blocks = nn.Sequential(
            *[ResidualBlock(num_features, norm, activation, res_scale) for _ in range(num_blocks)],
            nn.Conv2d(num_features, num_features, 3, padding=1, bias=norm == "none"),
            make_norm(norm, num_features),
        )
        self.upsample = PixelShuffleUpsampler(num_features, scale, activation)
        self.tail = nn.Conv2d(num_features, out_channels, 9, padding=4)
        # Residual branches and the tail start small: the untrained network is close to its skips
        # (near the bilinear upscale with image_skip), while the head and the upsampler pass a
        # full-strength signal, so the tail learns from the first step.
        _kaiming_scaled(self, 1.0)
        _kaiming_scaled(self.blocks, 0.1)
        _kaiming_scaled(self.tail, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, H, W], got {tuple(x.shape)}")
        features = self.head(x)
        features = features + self.blocks(features)
        output = self.tail(self.upsample(features))
        if self.image_skip:
            output = output + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return output


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convolutions; the output is ``x + 0.2 · conv5(...)`` (ESRGAN).

    Args:
        channels: input and output channels (``num_feat``).
        growth: channels each of the first four convolutions adds (``num_grow_ch``).

    Shape:
        x: ``[N, channels, H, W]``; output: the same.
    """

    def __init__(self, channels: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, growth, 3, padding=1)
        self.conv2 = nn.Conv2d(channels + growth, growth, 3, padding=1)
        self.conv3 = nn.Conv2d(channels + 2 * growth, growth, 3, padding=1)
        self.conv4 = nn.Conv2d(channels + 3 * growth, growth, 3, padding=1)
        self.conv5 = nn.Conv2d(channels + 4 * growth, channels, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(self.lrelu(conv(torch.cat(features, dim=1))))
        return x + 0.2 * self.conv5(torch.cat(features, dim=1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three :class:`ResidualDenseBlock`, ``x + 0.2 · rdb3(rdb2(rdb1(x)))``."""

    def __init__(self, channels: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(channels, growth)
        self.rdb2 = ResidualDenseBlock(channels, growth)
        self.rdb3 = ResidualDenseBlock(channels, growth)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBGenerator(nn.Module):
    """ESRGAN's generator (Wang et al. 2018), with Real-ESRGAN's ×2 variant.

    ×4: features at the input resolution, two nearest-neighbour ×2 upsamplings each followed by
    a convolution. ×2 first folds each 2×2 block into channels (pixel unshuffle), so the same ×4
    trunk gives ×2 overall, as Real-ESRGAN's ``RealESRGAN_x2plus`` does; inputs then need even
    sides (``size_multiple`` 2; inference pads).

    Args:
        in_channels, out_channels: image channels (3 for the published weights).
        scale: 2 or 4.
        num_features: trunk width (``num_feat``, 64).
        num_blocks: RRDBs (``num_block``, 23).
        growth: dense-block growth channels (``num_grow_ch``, 32).

    Shape:
        x: ``[N, in_channels, H, W]`` in [0, 1]; output: ``[N, out_channels, H * scale, W * scale]``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int = 4,
        num_features: int = 64,
        num_blocks: int = 23,
        growth: int = 32,
    ) -> None:
        super().__init__()
        _check_scale(scale, RRDB_SCALES, "the RRDB generator")
        self.in_channels = in_channels
        self.scale = scale
        self.unshuffle = 4 // scale  # 1 for ×4, 2 for ×2
        self.size_multiple = self.unshuffle
        self.conv_first = nn.Conv2d(in_channels * self.unshuffle**2, num_features, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(num_features, growth) for _ in range(num_blocks)])
        self.conv_body = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_last = nn.Conv2d(num_features, out_channels, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        _kaiming_scaled(self, 1.0)
        _kaiming_scaled(self.body, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, H, W], got {tuple(x.shape)}")
        if self.unshuffle > 1:
            if x.shape[-2] % self.unshuffle or x.shape[-1] % self.unshuffle:
                raise ValueError(f"×{self.scale} RRDB needs even height and width, got {tuple(x.shape[-2:])}")
            x = F.pixel_unshuffle(x, self.unshuffle)
        features = self.conv_first(x)
        features = features + self.conv_body(self.body(features))
        features = self.lrelu(self.conv_up1(F.interpolate(features, scale_factor=2, mode="nearest")))
        features = self.lrelu(self.conv_up2(F.interpolate(features, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(features)))


class VGGStyleDiscriminator(nn.Module):
    """SRGAN's discriminator: eight 3×3 convolutions (``ndf`` → ``8 · ndf`` features, every other
    one with stride 2), then a 1024-unit dense layer and one logit. It judges whole crops of one
    fixed size, so it serves training only; a PatchGAN judges any size.

    Args:
        in_channels: image channels.
        ndf: width of the first convolutions (64).
        image_size: side of the square crops it judges, a multiple of 16.
        norm: ``batch`` (SRGAN), ``instance`` or ``none``.
        spectral_norm: spectral normalisation on every layer.

    Shape:
        x: ``[N, in_channels, image_size, image_size]``; output: ``[N, 1]`` logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        image_size: int = 96,
        norm: Literal["batch", "instance", "none"] = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if image_size < 16 or image_size % 16:
            raise ValueError(f"the VGG-style discriminator needs crops of a multiple of 16 pixels, got {image_size}")
        self.in_channels = in_channels
        self.image_size = image_size

        def wrap(layer: nn.Module) -> nn.Module:
            return _spectral_norm(layer) if spectral_norm else layer

        bias = norm == "none" or spectral_norm
        blocks: list[nn.Module] = [nn.Sequential(wrap(nn.Conv2d(in_channels, ndf, 3, padding=1)), nn.LeakyReLU(0.2))]
        width = ndf
        for index in range(1, 8):
            # Widths 64, 128, 128, 256, 256, 512, 512 after the first; odd blocks halve the size.
            next_width = ndf * 2 ** (index // 2)
            stride = 2 if index % 2 == 1 else 1
            blocks.append(
                nn.Sequential(
                    wrap(nn.Conv2d(width, next_width, 3, stride=stride, padding=1, bias=bias)),
                    make_norm(norm, next_width),
                    nn.LeakyReLU(0.2),
                )
            )
            width = next_width
        self.blocks = nn.ModuleList(blocks)
        side = image_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(), wrap(nn.Linear(width * side * side, 1024)), nn.LeakyReLU(0.2), wrap(nn.Linear(1024, 1))
        )

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits ``[N, 1]`` and the activation of each of the eight convolution blocks."""
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"the VGG-style discriminator judges [N, {', '.join(map(str, expected))}] crops, got "
                f"{tuple(x.shape)}; set data.image_size to its crop size, or use discriminator.kind=patch for any size"
            )
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.classifier(x), features

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_features(x)[0]


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """``x`` blurred by a Gaussian of ``sigma`` pixels (reflected borders), in float32.

    Used to split an image into the low frequencies a pixel loss compares and the fine detail a
    discriminator judges (:class:`HighPassInput`); the two add up to the image. The detail is a
    few grey levels and a bfloat16 blur of values near 1 rounds by about one, so autocast is off.
    """
    from kornia.filters import gaussian_blur2d

    with torch.autocast(x.device.type, enabled=False):
        x = x.float()
        return gaussian_blur2d(x, 2 * math.ceil(3 * sigma) + 1, (sigma, sigma), border_type="reflect")


class HighPassInput(nn.Module):
    """A discriminator that judges only an image's fine detail: ``x - gaussian_blur(x, sigma)``.

    Frequency separation (Fritsche et al. 2019): a super-resolved photo differs from the original
    by a few grey levels of high-frequency detail, which a discriminator of whole images learns to
    see slowly (from the ×4 SRResNet, a PatchGAN trained alone stayed at chance for 330 steps;
    given the detail, it told the two apart within 70). The pixel loss keeps the low frequencies
    (``loss.pixel_low_pass_sigma`` in the srgan pipeline).

    Args:
        discriminator: the network that judges the detail (any of this package's discriminators).
        sigma: standard deviation of the Gaussian removed, in output pixels.

    Shape:
        x: what ``discriminator`` takes; output: what it returns.
    """

    def __init__(self, discriminator: nn.Module, sigma: float = 1.0) -> None:
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"the high-pass sigma must be positive, got {sigma}")
        self.discriminator = discriminator
        self.sigma = float(sigma)

    def high_pass(self, x: Tensor) -> Tensor:
        """``x`` minus its :func:`gaussian_blur`, in float32 (the discriminator may run in bfloat16)."""
        return x.float() - gaussian_blur(x, self.sigma)

    def forward(self, x: Tensor) -> Tensor:
        return self.discriminator(self.high_pass(x))


def logits_and_features(discriminator: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """A discriminator's logits and its intermediate activations (for feature matching).

    Works for :class:`VGGStyleDiscriminator` and for the shared single-scale
    :class:`~translate.networks.PatchDiscriminator` / ``PixelDiscriminator`` (a ``body``
    sequence: the output of each LeakyReLU is a feature), each also inside :class:`HighPassInput`.

    Raises:
        TypeError: a discriminator whose features this function cannot reach (e.g. multi-scale).
    """
    if isinstance(discriminator, HighPassInput):
        x, discriminator = discriminator.high_pass(x), discriminator.discriminator
    if isinstance(discriminator, VGGStyleDiscriminator):
        return discriminator.forward_with_features(x)
    body = getattr(discriminator, "body", None)
    if not isinstance(body, nn.Sequential):
        raise TypeError(f"cannot read intermediate features of {type(discriminator).__name__}")
    features = []
    for layer in body:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            features.append(x)
    return x, features
