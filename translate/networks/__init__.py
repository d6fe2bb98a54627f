"""Networks built from :mod:`translate.nn`, plus configs that describe how to build them."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from torch import nn

from translate.config import option
from translate.networks.discriminators import (
    MultiScaleDiscriminator,
    PatchDiscriminator,
    PixelDiscriminator,
)
from translate.networks.generators import ResNetGenerator, UNetGenerator, UpsampleKind
from translate.nn import InitKind, NormKind, init_weights

__all__ = [
    "DiscriminatorConfig",
    "GeneratorConfig",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "PixelDiscriminator",
    "ResNetGenerator",
    "UNetGenerator",
    "build_discriminator",
    "build_generator",
    "resnet_blocks_for",
    "unet_depth_for",
    "with_automatic_choices",
]


@dataclass(frozen=True)
class GeneratorConfig:
    kind: Literal["unet", "resnet"] = option("unet", "generator architecture")
    ngf: int = option(64, "width of the first generator layer")
    num_downs: int = option(0, "U-Net depth; 0 = log2(image size), so any image size needs no flag")
    n_blocks: int = option(0, "ResNet residual blocks; 0 = by image size: 9 above 128 px, 6 at 128 px and below")
    norm: NormKind = option("instance", "generator normalisation")
    dropout: float = option(0.5, "dropout probability in the U-Net decoder / ResNet blocks")
    upsample: UpsampleKind = option("transpose", "transpose convolution, or resize + convolution")
    init: InitKind = option("normal", "weight initialisation")
    init_gain: float = option(0.02, "std / gain of the weight initialisation")
    embedding_dim: int = option(128, "class-embedding size for norm=cbn")


@dataclass(frozen=True)
class DiscriminatorConfig:
    kind: Literal["patch", "pixel"] = option("patch", "PatchGAN or per-pixel discriminator")
    ndf: int = option(64, "width of the first discriminator layer")
    n_layers: int = option(3, "PatchGAN depth (3 = 70×70 patches)")
    norm: Literal["batch", "instance", "none"] = option("instance", "discriminator normalisation")
    spectral_norm: bool = option(False, "spectral normalisation on every discriminator convolution")
    num_scales: int = option(1, "discriminators at successively halved resolutions")
    init: InitKind = option("normal", "weight initialisation")
    init_gain: float = option(0.02, "std / gain of the weight initialisation")


def unet_depth_for(image_size: int) -> int:
    """U-Net depth that brings ``image_size`` to a 1×1 bottleneck (at least 2)."""
    if image_size < 4:
        raise ValueError(f"image size must be at least 4, got {image_size}")
    return max(2, int(math.log2(image_size)))


def resnet_blocks_for(image_size: int) -> int:
    """Residual blocks of the pix2pix/CycleGAN ResNet generator for an image size: 9 above 128 px
    (their 256-px recipe), 6 at 128 px and below."""
    return 9 if image_size > 128 else 6


def with_automatic_choices(config: GeneratorConfig, image_size: int) -> GeneratorConfig:
    """The config with ``n_blocks=0`` (ResNet) or ``num_downs=0`` (U-Net) made concrete for
    ``image_size``, so a checkpoint records the generator it holds and fine-tuning at another
    size rebuilds the same one."""
    if config.kind == "resnet" and config.n_blocks == 0:
        return replace(config, n_blocks=resnet_blocks_for(image_size))
    if config.kind == "unet" and config.num_downs == 0:
        return replace(config, num_downs=unet_depth_for(image_size))
    return config


def build_generator(
    config: GeneratorConfig,
    in_channels: int,
    out_channels: int,
    image_size: int,
    num_classes: int = 0,
) -> UNetGenerator | ResNetGenerator:
    """A generator as the config describes, initialised."""
    if config.kind == "unet":
        network: UNetGenerator | ResNetGenerator = UNetGenerator(
            in_channels,
            out_channels,
            num_downs=config.num_downs or unet_depth_for(image_size),
            ngf=config.ngf,
            norm=config.norm,
            dropout=config.dropout,
            upsample=config.upsample,
            num_classes=num_classes,
            embedding_dim=config.embedding_dim,
        )
    else:
        network = ResNetGenerator(
            in_channels,
            out_channels,
            ngf=config.ngf,
            n_blocks=config.n_blocks or resnet_blocks_for(image_size),
            norm=config.norm,
            dropout=config.dropout,
            upsample=config.upsample,
            num_classes=num_classes,
            embedding_dim=config.embedding_dim,
        )
    return init_weights(network, config.init, config.init_gain)


def build_discriminator(config: DiscriminatorConfig, in_channels: int) -> nn.Module:
    """A discriminator (or a multi-scale set of them) as the config describes, initialised."""
    if config.num_scales < 1:
        raise ValueError(f"num_scales must be at least 1, got {config.num_scales}")

    def one() -> nn.Module:
        if config.kind == "patch":
            return PatchDiscriminator(
                in_channels, config.ndf, config.n_layers, config.norm, config.spectral_norm
            )
        return PixelDiscriminator(in_channels, config.ndf, config.norm, config.spectral_norm)

    network = one() if config.num_scales == 1 else MultiScaleDiscriminator([one() for _ in range(config.num_scales)])
    return init_weights(network, config.init, config.init_gain)
