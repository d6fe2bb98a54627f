"""Class-conditional networks for generation: a noise→image generator and a projection discriminator.

- :class:`NoiseGenerator` (BigGAN style): ``z`` → a small feature map → residual up-sampling
  blocks with class-conditional batch norm in every block. One class embedding is shared by all
  blocks; each block's norm projects ``[class embedding, z]`` to its own scale and shift.
- :class:`ProjectionDiscriminator` (Miyato & Koyama, 2018): residual down-sampling blocks, sum
  pooling to features ``h``, then ``logit = w·h + b + e_y·h``: an unconditional head plus the inner
  product of the class embedding with the features. An optional auxiliary classifier head
  (AC-GAN) predicts the class from the same features.

Both accept classes as indices ``[N]`` or as weights over the classes ``[N, K]`` (a blend).
The image-to-image generators of :mod:`translate.networks.generators` take ``norm="cbn"`` for
class-conditional translation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from translate.config import option
from translate.nn import ClassEmbedding, ConditionalBatchNorm2d, ConditionalModule, InitKind, init_weights


@dataclass(frozen=True)
class NoiseGeneratorConfig:
    z_dim: int = option(128, "size of the noise vector z")
    ngf: int = option(64, "width of the last block; earlier blocks double it, up to 8 * ngf")
    embedding_dim: int = option(128, "size of the shared class embedding")
    bottom_size: int = option(4, "side of the first feature map (image size / 2 ** blocks)")
    init: InitKind = option("orthogonal", "weight initialisation (BigGAN: orthogonal)")
    init_gain: float = option(1.0, "std / gain of the weight initialisation")


@dataclass(frozen=True)
class ProjectionDiscriminatorConfig:
    ndf: int = option(64, "width of the first block; later blocks double it, up to 8 * ndf")
    spectral_norm: bool = option(True, "spectral normalisation on every weight (convolutions, heads, embedding)")
    init: InitKind = option("orthogonal", "weight initialisation (BigGAN: orthogonal)")
    init_gain: float = option(1.0, "std / gain of the weight initialisation")


def _blocks_between(small: int, large: int, what: str) -> int:
    """How many ×2 steps lead from ``small`` to ``large`` (which must be ``small * 2 ** k``, k ≥ 1)."""
    steps = round(math.log2(large / small)) if large > small > 0 else 0
    if steps < 1 or small * 2**steps != large:
        raise ValueError(f"{what}: image size {large} must be {small} times a power of two (at least ×2)")
    return steps


class _GeneratorBlock(ConditionalModule):
    """CBN → ReLU → ×2 nearest → conv3 → CBN → ReLU → conv3, plus a ×2 → conv1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, condition_dim: int) -> None:
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(in_channels, condition_dim)
        # No bias before a norm that subtracts the mean and adds its own shift.
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = ConditionalBatchNorm2d(out_channels, condition_dim)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:  # type: ignore[override]
        h = F.interpolate(F.relu(self.norm1(x, condition)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), condition)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class NoiseGenerator(nn.Module):
    """Class-conditional generator from noise, with conditional batch norm in every block.

    Args:
        out_channels: channels of the generated images.
        image_size: side of the generated images: ``bottom_size * 2 ** k``.
        num_classes: number of classes.
        z_dim: size of the noise vector.
        ngf: width of the last block; each earlier block doubles it, up to ``8 * ngf``.
        embedding_dim: size of the shared class embedding.
        bottom_size: side of the first feature map.

    Shape:
        z: ``[N, z_dim]``; labels: ``[N]`` class indices or ``[N, num_classes]`` class weights;
        output: ``[N, out_channels, image_size, image_size]`` in [-1, 1].
    """

    def __init__(
        self,
        out_channels: int,
        image_size: int,
        num_classes: int,
        z_dim: int = 128,
        ngf: int = 64,
        embedding_dim: int = 128,
        bottom_size: int = 4,
    ) -> None:
        super().__init__()
        blocks = _blocks_between(bottom_size, image_size, "NoiseGenerator")
        self.z_dim = z_dim
        self.out_channels = out_channels
        self.image_size = image_size
        self.bottom_size = bottom_size
        self.class_embedding = ClassEmbedding(num_classes, embedding_dim)
        # Every norm sees the class and the noise (BigGAN-deep: shared embedding ⊕ z).
        condition_dim = embedding_dim + z_dim
        widths = [ngf * min(2 ** (blocks - level), 8) for level in range(blocks + 1)]
        self.stem = nn.Linear(z_dim, widths[0] * bottom_size * bottom_size)
        self.blocks = nn.ModuleList(
            _GeneratorBlock(widths[level], widths[level + 1], condition_dim) for level in range(blocks)
        )
        self.out_norm = ConditionalBatchNorm2d(widths[-1], condition_dim)
        self.out_conv = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    @property
    def num_classes(self) -> int:
        return self.class_embedding.num_classes

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected noise [N, {self.z_dim}], got {tuple(z.shape)}")
        if labels.shape[0] != z.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for {z.shape[0]} noise vectors")
        condition = torch.cat([self.class_embedding(labels).to(z.dtype), z], dim=1)
        x = self.stem(z).view(z.shape[0], -1, self.bottom_size, self.bottom_size)
        for block in self.blocks:
            x = block(x, condition)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(x, condition))))


class _DiscriminatorBlock(nn.Module):
    """ReLU → conv3 → ReLU → conv3 (→ ×½ average pool), plus a conv1 (→ pool) shortcut.

    The first block takes raw pixels: no ReLU before its first convolution, and its shortcut
    pools before the 1×1 convolution (as in SNGAN/BigGAN).
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, first: bool) -> None:
        super().__init__()
        self.first = first
        self.downsample = downsample
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels or downsample else None

    def _pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(x if self.first else F.relu(x))
        h = self._pool(self.conv2(F.relu(h)))
        if self.shortcut is None:
            return h + x
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip


class ProjectionDiscriminator(nn.Module):
    """Residual discriminator with a projection class head and an optional auxiliary classifier.

    Args:
        in_channels: channels of the images judged.
        image_size: side of the training images: ``4 * 2 ** k``; blocks halve it down to 4×4
            (any larger input works: the features are sum-pooled).
        num_classes: number of classes.
        ndf: width of the first block; each later block doubles it, up to ``8 * ndf``.
        auxiliary_classifier: add a head that predicts the class (AC-GAN).

    Shape:
        x: ``[N, in_channels, H, W]``; labels: ``[N]`` indices or ``[N, num_classes]`` weights;
        :meth:`forward` returns logits ``[N]``; :meth:`heads` also class logits ``[N, num_classes]``.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        ndf: int = 64,
        auxiliary_classifier: bool = False,
    ) -> None:
        super().__init__()
        downs = _blocks_between(4, image_size, "ProjectionDiscriminator")
        self.in_channels = in_channels
        widths = [ndf * min(2**level, 8) for level in range(downs)]
        blocks = [_DiscriminatorBlock(in_channels, widths[0], downsample=True, first=True)]
        blocks += [_DiscriminatorBlock(widths[i - 1], widths[i], downsample=True, first=False) for i in range(1, downs)]
        blocks.append(_DiscriminatorBlock(widths[-1], widths[-1], downsample=False, first=False))
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = widths[-1]
        self.linear = nn.Linear(self.feature_dim, 1)
        self.class_embedding = ClassEmbedding(num_classes, self.feature_dim)
        self.classifier = nn.Linear(self.feature_dim, num_classes) if auxiliary_classifier else None

    @property
    def num_classes(self) -> int:
        return self.class_embedding.num_classes

    def features(self, x: Tensor) -> Tensor:
        """Sum-pooled features ``h``: ``[N, C, H, W]`` → ``[N, feature_dim]``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, H, W], got {tuple(x.shape)}")
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def heads(self, features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor | None]:
        """Real/fake logits ``w·h + b + e_y·h`` and, with the auxiliary head, class logits."""
        if labels.shape[0] != features.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for {features.shape[0]} images")
        embedding = self.class_embedding(labels).to(features.dtype)
        logits = self.linear(features).squeeze(1) + (embedding * features).sum(dim=1)
        return logits, self.classifier(features) if self.classifier is not None else None

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.heads(self.features(x), labels)[0]


def apply_spectral_norm(network: nn.Module) -> nn.Module:
    """Spectral norm on every convolution, linear layer and class embedding of ``network``."""
    for module in list(network.modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear, ClassEmbedding)):
            spectral_norm(module)
    return network


def build_noise_generator(
    config: NoiseGeneratorConfig, out_channels: int, image_size: int, num_classes: int
) -> NoiseGenerator:
    """A noise→image generator as the config describes, initialised (CBN projections at zero)."""
    network = NoiseGenerator(
        out_channels,
        image_size,
        num_classes,
        z_dim=config.z_dim,
        ngf=config.ngf,
        embedding_dim=config.embedding_dim,
        bottom_size=config.bottom_size,
    )
    return init_weights(network, config.init, config.init_gain)  # type: ignore[return-value]


def build_projection_discriminator(
    config: ProjectionDiscriminatorConfig,
    in_channels: int,
    image_size: int,
    num_classes: int,
    auxiliary_classifier: bool = False,
) -> ProjectionDiscriminator:
    """A projection discriminator as the config describes, initialised, spectrally normalised."""
    network = ProjectionDiscriminator(in_channels, image_size, num_classes, config.ndf, auxiliary_classifier)
    init_weights(network, config.init, config.init_gain)
    if config.spectral_norm:
        # After the initialisation: torch estimates each weight's largest singular value with
        # 15 power iterations when spectral norm is applied, so it is exact from the first step.
        apply_spectral_norm(network)
    return network
