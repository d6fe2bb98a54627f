"""srgan: single-image super-resolution, PSNR-oriented pre-training then adversarial fine-tuning.

Two phases, one config key (Ledig et al. 2017, SRGAN; Wang et al. 2018, ESRGAN):

- ``phase=psnr``: the generator alone learns to minimise a pixel loss (L1) between its output
  and the high-resolution crop. This gives the best PSNR (the SRResNet of the papers).
- ``phase=gan``: starting from a psnr checkpoint (``translate train srgan --init CKPT --set
  phase=gan``), the generator also learns to fool a discriminator and to match a perceptual
  loss, trading some PSNR for sharper, more natural texture.

Images cross the networks in [0, 1] (no [-1, 1] mapping: the RRDB weights published for
ESRGAN/Real-ESRGAN expect [0, 1]). Inference takes any size; images bigger than
``inference_tile`` run in overlapping, blended tiles so memory stays bounded, and ``outscale``
resizes the result to any factor after the network's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from translate.config import ConfigError, option
from translate.data import HighResDataConfig, HighResolutionDataset
from translate.imageio import bicubic_resize, to_8bit_levels
from translate.losses import (
    ReconstructionKind,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    gradient_penalty,
    reconstruction_loss,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
)
from translate.networks import DiscriminatorConfig, build_discriminator
from translate.networks.sr import (
    RRDB_SCALES,
    SR_SCALES,
    HighPassInput,
    RRDBGenerator,
    SRNorm,
    SRResNetGenerator,
    VGGStyleDiscriminator,
    gaussian_blur,
    logits_and_features,
)
from translate.optim import OptimConfig, lr_factor, make_adam, set_lr, set_requires_grad
from translate.perceptual import VGG19_LAYERS
from translate.pipelines.base import Pipeline

SRAdversarialKind = Literal["relativistic", "vanilla", "lsgan", "hinge", "wgan"]
PerceptualKind = Literal["vgg", "lpips", "feature_matching", "band_energy", "none"]


@dataclass(frozen=True)
class SRGeneratorConfig:
    kind: Literal["srresnet", "rrdb"] = option(
        "srresnet", "srresnet (SRGAN; ×2, ×3, ×4) or rrdb (ESRGAN/Real-ESRGAN; ×2, ×4; their weights load)"
    )
    num_features: int = option(64, "width of the trunk")
    num_blocks: int = option(0, "residual blocks; 0 = the kind's default (16 SRResNet, 23 RRDB)")
    norm: SRNorm = option("batch", "srresnet: batch (SRGAN) or none (batch-norm-free, as EDSR and ESRGAN)")
    res_scale: float = option(1.0, "srresnet: factor on each residual branch (EDSR: 0.1 for wide models)")
    image_skip: bool = option(True, "srresnet: add the bilinear upscale of the input, so the net learns the detail")
    growth: int = option(32, "rrdb: growth channels of the dense blocks")


@dataclass(frozen=True)
class SRDiscriminatorConfig:
    kind: Literal["vgg", "patch"] = option(
        "vgg", "vgg: SRGAN's classifier of whole data.image_size crops (a multiple of 16); patch: PatchGAN, any size"
    )
    ndf: int = option(64, "width of the first discriminator layer")
    n_layers: int = option(3, "patch: stride-2 layers (3 = 70×70 patches)")
    norm: Literal["batch", "instance", "none"] = option("batch", "discriminator normalisation (SRGAN: batch)")
    spectral_norm: bool = option(False, "spectral normalisation on every discriminator layer")
    high_pass_sigma: float = option(
        0.0,
        "judge only fine detail: the image minus its Gaussian blur of this sigma (output pixels; "
        "frequency separation, Fritsche et al. 2019); 0 = the whole image",
    )


@dataclass(frozen=True)
class SRLossConfig:
    pixel: ReconstructionKind = option(
        "l1", "pixel loss: l1 (EDSR, ESRGAN) or l2 (SRGAN's MSE); the psnr phase's only loss"
    )
    pixel_weight: float = option(1e-2, "gan phase: weight of the pixel loss (ESRGAN 1e-2; SRGAN 0)")
    pixel_low_pass_sigma: float = option(
        0.0,
        "gan phase: compare only the output's and target's Gaussian blurs of this sigma (output pixels), "
        "leaving finer detail to the adversarial loss (frequency separation, with "
        "discriminator.high_pass_sigma); 0 = every frequency",
    )
    perceptual: PerceptualKind = option(
        "vgg",
        "gan phase: vgg (VGG19 features; needs torchvision's weights file), lpips (needs its backbone file), "
        "feature_matching (the discriminator's own features; no external weights), band_energy (the local "
        "energy of oriented band-pass filters of the luma; no weights) or none",
    )
    perceptual_weight: float = option(
        1.0, "gan phase: weight of the perceptual loss (ESRGAN 1 with conv5_4 and L1; SRGAN 0.006 with relu5_4 and L2)"
    )
    vgg_layer: str = option(
        "conv5_4", "vgg: last VGG19 layer compared (conv5_4 ESRGAN, relu5_4 SRGAN's VGG54, relu2_2 VGG22)"
    )
    vgg_criterion: ReconstructionKind = option("l1", "vgg: distance between features (ESRGAN l1, SRGAN l2)")
    vgg_weights: str = option("", "vgg: torchvision's vgg19-dcbb9e9d.pth; empty = look in the torch hub cache")
    lpips_net: Literal["vgg", "alex"] = option("vgg", "lpips: backbone network")
    lpips_backbone_weights: str = option("", "lpips: torchvision's backbone file; empty = look in the torch hub cache")
    gan: SRAdversarialKind = option(
        "relativistic",
        "adversarial loss: relativistic (ESRGAN's relativistic average), vanilla (SRGAN), lsgan, hinge, wgan",
    )
    gan_weight: float = option(5e-3, "gan phase: weight of the adversarial loss (ESRGAN 5e-3, SRGAN 1e-3)")
    gp_weight: float = option(10.0, "gradient-penalty weight (wgan only)")


@dataclass(frozen=True)
class SROptimConfig(OptimConfig):
    # SRGAN and ESRGAN train with Adam at 1e-4, beta1 0.9 (the GAN default 0.5 slows the pixel loss).
    lr_g: float = option(1e-4, "generator learning rate (Adam)")
    lr_d: float = option(1e-4, "discriminator learning rate (Adam)")
    beta1: float = option(0.9, "Adam beta1")
    discriminator_warmup: int = option(
        0,
        "gan phase: the run's first N steps train the discriminator alone, the generator frozen, so its "
        "first gradients come from a discriminator that already tells real from generated (BasicSR's net_d_init_iters)",
    )


@dataclass(frozen=True)
class SRGANConfig:
    scale: int = option(4, "upscaling factor of the network: 2, 3 or 4 (rrdb: 2 or 4)")
    phase: Literal["psnr", "gan"] = option(
        "psnr",
        "psnr: pixel loss only, no discriminator (pre-training); gan: pixel + perceptual + adversarial "
        "(fine-tune a psnr checkpoint: --init CKPT --set phase=gan)",
    )
    inference_tile: int = option(128, "inference: images larger than this (input pixels) run in tiles; 0 = never")
    data: HighResDataConfig = option(HighResDataConfig(), "")
    generator: SRGeneratorConfig = option(SRGeneratorConfig(), "")
    discriminator: SRDiscriminatorConfig = option(SRDiscriminatorConfig(), "")
    loss: SRLossConfig = option(SRLossConfig(), "")
    optim: SROptimConfig = option(SROptimConfig(), "")


def build_sr_generator(config: SRGeneratorConfig, channels: int, scale: int) -> SRResNetGenerator | RRDBGenerator:
    """The generator the config describes (initialised by its constructor)."""
    if config.kind == "srresnet":
        return SRResNetGenerator(
            channels,
            channels,
            scale=scale,
            num_features=config.num_features,
            num_blocks=config.num_blocks or 16,
            norm=config.norm,
            res_scale=config.res_scale,
            image_skip=config.image_skip,
        )
    return RRDBGenerator(
        channels,
        channels,
        scale=scale,
        num_features=config.num_features,
        num_blocks=config.num_blocks or 23,
        growth=config.growth,
    )


def build_sr_discriminator(config: SRDiscriminatorConfig, channels: int, image_size: int) -> nn.Module:
    """SRGAN's VGG-style classifier for ``image_size`` crops, or the shared PatchGAN; either judges
    only the images' fine detail when ``high_pass_sigma`` is set (:class:`HighPassInput`)."""
    if config.kind == "vgg":
        discriminator = VGGStyleDiscriminator(channels, config.ndf, image_size, config.norm, config.spectral_norm)
    else:
        patch = DiscriminatorConfig(
            kind="patch", ndf=config.ndf, n_layers=config.n_layers, norm=config.norm, spectral_norm=config.spectral_norm
        )
        discriminator = build_discriminator(patch, channels)
    return HighPassInput(discriminator, config.high_pass_sigma) if config.high_pass_sigma else discriminator


def _check_config(config: SRGANConfig) -> None:
    """Config combinations the networks cannot build, as errors naming the keys."""
    scales = RRDB_SCALES if config.generator.kind == "rrdb" else SR_SCALES
    if config.scale not in scales:
        raise ConfigError(
            f"scale: generator.kind={config.generator.kind} upscales by "
            f"{', '.join(map(str, scales))}, got {config.scale}"
        )
    if config.data.channels not in (1, 3):
        raise ConfigError(f"data.channels: must be 1 (grey) or 3 (RGB), got {config.data.channels}")
    if config.loss.perceptual == "vgg" and config.loss.vgg_layer not in VGG19_LAYERS:
        choices = ", ".join(VGG19_LAYERS)
        raise ConfigError(f"loss.vgg_layer: unknown layer {config.loss.vgg_layer!r}; choose one of: {choices}")
    # The low-resolution crop (size / scale) must fit the generator's input multiple: ×2 RRDB
    # folds 2×2 blocks into channels (RRDBGenerator.size_multiple = 4 // scale), so its sides are even.
    input_multiple = 4 // config.scale if config.generator.kind == "rrdb" else 1
    crops = {"image_size": config.data.image_size}
    if config.data.val_image_size:
        crops["val_image_size"] = config.data.val_image_size
    for key, crop in crops.items():
        if crop < config.scale or crop % config.scale:
            raise ConfigError(f"data.{key}: {crop} must be a multiple of the scale {config.scale}")
        if crop % (config.scale * input_multiple):
            raise ConfigError(
                f"data.{key}: generator.kind={config.generator.kind} at scale {config.scale} needs a multiple of "
                f"{config.scale * input_multiple}, got {crop} (its {key} / {config.scale} inputs need sides "
                f"that are multiples of {input_multiple})"
            )
    size = config.data.image_size
    if config.phase == "gan" and config.discriminator.kind == "vgg" and size % 16:
        raise ConfigError(
            f"data.image_size: the vgg discriminator needs a multiple of 16, got {size} "
            "(or set discriminator.kind=patch)"
        )
    sigma, warmup = config.discriminator.high_pass_sigma, config.optim.discriminator_warmup
    if sigma < 0:
        raise ConfigError(f"discriminator.high_pass_sigma: must be 0 (off) or positive, got {sigma}")
    if warmup < 0:
        raise ConfigError(f"optim.discriminator_warmup: must be 0 or more steps, got {warmup}")
    if config.loss.pixel_low_pass_sigma < 0:
        raise ConfigError(
            f"loss.pixel_low_pass_sigma: must be 0 (off) or positive, got {config.loss.pixel_low_pass_sigma}"
        )
    # The gradient penalty is per sample; batch norm would mix the samples it is taken over.
    if config.phase == "gan" and config.loss.gan == "wgan" and config.discriminator.norm == "batch":
        raise ConfigError(
            "discriminator.norm: loss.gan=wgan's gradient penalty needs a discriminator without batch norm; "
            "set discriminator.norm=none or discriminator.norm=instance"
        )


class SRGAN(Pipeline):
    """Super-resolution: ``generator(low) ≈ high``, ``scale`` times larger.

    Batches from :meth:`build_dataset` hold ``a`` (low resolution) and ``b`` (high resolution)
    in [0, 1]. The discriminator exists only in the gan phase and judges high-resolution
    images alone (real crops against generator outputs).
    """
    name = "srgan"
    config_class = SRGANConfig
    #: PSNR on the luma with a border of ``scale`` pixels cropped, negated so lower is better.
    validation_key = "neg_psnr_y"
    post_network_options = ("outscale",)
    keeps_image_kind = True  # a grey photo comes back grey, from colour weights too

    def __init__(self, config: SRGANConfig) -> None:
        super().__init__(config)
        _check_config(config)
        channels = config.data.channels
        self.generator = build_sr_generator(config.generator, channels, config.scale)
        self.discriminator: nn.Module | None = None
        if config.phase == "gan":
            self.discriminator = build_sr_discriminator(config.discriminator, channels, config.data.image_size)
        # Built by setup_training: inference never needs (or loads) a perceptual network.
        self.perceptual: nn.Module | None = None
        self.total_steps = 0

    # ------------------------------------------------------------------ description
    @property
    def input_channels(self) -> int:
        return self.config.data.channels

    @property
    def output_channels(self) -> int:
        return self.config.data.channels

    @property
    def size_multiple(self) -> int:
        return self.generator.size_multiple

    @property
    def scale(self) -> int:
        return self.config.scale

    def checkpoint_metadata(self) -> dict[str, Any]:
        return super().checkpoint_metadata() | {
            "phase": self.config.phase,
            "image_size": self.config.data.image_size,
            "generator": self.config.generator.kind,
        }

    def inference_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}

    def training_modules(self) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {"generator": self.generator}
        if self.discriminator is not None:
            modules["discriminator"] = self.discriminator
        return modules

    # ------------------------------------------------------------------ training
    def build_dataset(self, root: str | os.PathLike, train: bool) -> HighResolutionDataset:
        return HighResolutionDataset(root, self.config.scale, self.config.data, train=train)

    def _build_perceptual(self) -> nn.Module | None:
        """The fixed perceptual loss the config asks for (None for feature matching or none).

        Raises:
            PerceptualWeightsError: its weights file is missing; the message names it.
        """
        loss = self.config.loss
        if self.config.phase != "gan" or loss.perceptual_weight == 0 or loss.perceptual in ("feature_matching", "none"):
            return None
        from translate.perceptual import BandEnergyLoss, LPIPSLoss, VGGPerceptualLoss

        if loss.perceptual == "band_energy":
            return BandEnergyLoss()
        if loss.perceptual == "vgg":
            return VGGPerceptualLoss(loss.vgg_layer, loss.vgg_weights, loss.vgg_criterion)
        return LPIPSLoss(loss.lpips_net, loss.lpips_backbone_weights)

    def setup_training(self, total_steps: int) -> None:
        optim = self.config.optim
        self.total_steps = total_steps
        self.optimizer_g = make_adam(self.generator.parameters(), optim.lr_g, optim)
        if self.discriminator is not None:
            self.optimizer_d = make_adam(self.discriminator.parameters(), optim.lr_d, optim)
        if self.perceptual is None:
            self.perceptual = self._build_perceptual()
        if self.perceptual is not None:
            memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
            self.perceptual.to(self.device, memory_format=memory_format)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        found: dict[str, torch.optim.Optimizer] = {"generator": self.optimizer_g}
        if self.discriminator is not None:
            found["discriminator"] = self.optimizer_d
        return found

    def _inputs_and_targets(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        return self.prepare(batch["a"]), self.prepare(batch["b"])

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        cfg = self.config
        factor = lr_factor(cfg.optim.lr_policy, step, self.total_steps, cfg.optim.decay_fraction)
        set_lr(self.optimizer_g, cfg.optim.lr_g * factor)
        self.generator.train()
        low, high = self._inputs_and_targets(batch)
        warming_up = self.discriminator is not None and step < cfg.optim.discriminator_warmup
        with self.autocast(), torch.set_grad_enabled(not warming_up):
            fake = self.generator(low)  # [N, C, H * scale, W * scale]
        if self.discriminator is None:
            loss = reconstruction_loss(cfg.loss.pixel, fake, high)
            self.optimizer_g.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer_g.step()
            return {"g_" + cfg.loss.pixel: loss.item()}
        set_lr(self.optimizer_d, cfg.optim.lr_d * factor)
        return self._adversarial_step(low, high, fake, train_generator=not warming_up)

    def _adversarial_losses(self, real: Any, fake: Any, for_generator: bool) -> Tensor:
        """The configured adversarial loss; both relativistic halves are averaged, as ESRGAN trains,
        and the standard D loss halved as in pix2pix, so each weight means what it does there."""
        kind = self.config.loss.gan
        if kind == "relativistic":
            relativistic = relativistic_generator_loss if for_generator else relativistic_discriminator_loss
            return 0.5 * relativistic(real, fake)
        return generator_loss(kind, fake) if for_generator else 0.5 * discriminator_loss(kind, real, fake)

    def gan_pixel_loss(self, fake: Tensor, high: Tensor) -> Tensor:
        """The gan phase's pixel loss: on every frequency, or on the Gaussian blurs of both images
        when ``loss.pixel_low_pass_sigma`` is set (the finer detail is the discriminator's)."""
        sigma = self.config.loss.pixel_low_pass_sigma
        if sigma:
            fake, high = gaussian_blur(fake, sigma), gaussian_blur(high, sigma)
        return reconstruction_loss(self.config.loss.pixel, fake, high)

    def _adversarial_step(self, low: Tensor, high: Tensor, fake: Tensor, train_generator: bool) -> dict[str, float]:
        cfg = self.config.loss
        discriminator = self.discriminator
        assert discriminator is not None
        discriminator.train()

        # Discriminator: real crops towards "real", generated ones towards "fake".
        set_requires_grad(discriminator, True)
        self.optimizer_d.zero_grad(set_to_none=True)
        with self.autocast():
            real_logits = discriminator(high)
            fake_logits = discriminator(fake.detach())
        loss_d = self._adversarial_losses(real_logits, fake_logits, for_generator=False)
        losses = {"d": loss_d.item()}
        if cfg.gan == "wgan":
            penalty = gradient_penalty(discriminator, high, fake.detach().to(high.dtype))
            loss_d = loss_d + cfg.gp_weight * penalty
            losses["gp"] = penalty.item()
        loss_d.backward()
        self.optimizer_d.step()
        if not train_generator:
            return losses

        # Generator: stay close in pixels and features, and fool the discriminator.
        set_requires_grad(discriminator, False)
        self.optimizer_g.zero_grad(set_to_none=True)
        matching = cfg.perceptual == "feature_matching" and cfg.perceptual_weight > 0
        with self.autocast():
            fake_logits, fake_features = logits_and_features(discriminator, fake)
            with torch.no_grad():  # the relativistic loss and feature matching compare with the reals
                real_logits, real_features = logits_and_features(discriminator, high)
        loss_gan = self._adversarial_losses(real_logits, fake_logits, for_generator=True)
        loss_pixel = self.gan_pixel_loss(fake, high)
        loss_g = cfg.gan_weight * loss_gan + cfg.pixel_weight * loss_pixel
        losses |= {"g_gan": loss_gan.item(), "g_" + cfg.pixel: loss_pixel.item()}
        if matching:
            loss_perceptual = feature_matching_loss(fake_features, real_features)
        elif self.perceptual is not None:
            with self.autocast():
                loss_perceptual = self.perceptual(fake, high)
        else:
            loss_perceptual = None
        if loss_perceptual is not None:
            loss_g = loss_g + cfg.perceptual_weight * loss_perceptual
            losses["g_" + cfg.perceptual] = loss_perceptual.item()
        loss_g.backward()
        self.optimizer_g.step()
        set_requires_grad(discriminator, True)
        return losses

    def training_state(self) -> dict[str, Any]:
        state = {"optimizer_g": self.optimizer_g.state_dict()}
        if self.discriminator is not None:
            state["optimizer_d"] = self.optimizer_d.state_dict()
        return state

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        if self.discriminator is not None:
            self.optimizer_d.load_state_dict(state["optimizer_d"])

    @torch.no_grad()
    def _generate_eval(self, low: Tensor) -> Tensor:
        was_training = self.generator.training
        self.generator.eval()
        with self.autocast():
            fake = self.generator(low)
        self.generator.train(was_training)
        return fake.float().clamp(0, 1)

    def visuals(self, batch: dict[str, Any]) -> list[Tensor]:
        """Bicubic upscale of the input | output | target, all at the output size."""
        low, high = self._inputs_and_targets(batch)
        return [bicubic_resize(low, tuple(high.shape[-2:])), self._generate_eval(low), high.float()]

    def validation_metrics(self, batch: dict[str, Any]) -> dict[str, float]:
        """L1 and PSNR-Y (border of ``scale`` pixels cropped) of the 8-bit output, as ``translate eval`` scores."""
        from translate.metrics import psnr_y

        low, high = self._inputs_and_targets(batch)
        fake = to_8bit_levels(self._generate_eval(low))
        high = high.float()
        psnr = psnr_y(fake, high, border=self.scale).mean().item()
        return {"l1": (fake - high).abs().mean().item(), "psnr_y": psnr, "neg_psnr_y": -psnr}

    # ------------------------------------------------------------------ inference
    def inference_options(self) -> dict[str, str]:
        return {"outscale": "final size as a factor of the input (any positive number); default: the network's scale"}

    @classmethod
    def canonical_options(cls, config: SRGANConfig, options: dict[str, Any]) -> dict[str, Any]:
        """``outscale`` equal to the network's own scale is the default: the same outputs."""
        canonical = dict(options)
        if canonical.get("outscale") is not None and canonical["outscale"] == config.scale:
            del canonical["outscale"]
        return canonical

    def translate_batch(self, images: Tensor, **options: Any) -> Tensor:
        self.generator.eval()
        with self.autocast():
            output = self.generator(images)
        return output.float().clamp(0, 1)

    @torch.inference_mode()
    def forward(
        self,
        images: Tensor,
        tile: int | None = None,
        tile_overlap: int = 32,
        outscale: float | None = None,
        **options: Any,
    ) -> Tensor:
        """Upscale images of any size; see :meth:`Pipeline.forward`.

        Args:
            images: ``[N, C, h, w]`` or ``[C, h, w]`` in [0, 1].
            tile: tile side in input pixels; None = ``config.inference_tile`` for images larger
                than it, the whole image otherwise; 0 = the whole image whatever its size.
            tile_overlap: overlap between tiles, in input pixels, blended smoothly.
            outscale: resize the network's result (antialiased bicubic) to this factor of the
                input size, e.g. 3.5 with a ×4 network.

        Returns:
            ``[N, C, round(h · s), round(w · s)]`` in [0, 1] with ``s = outscale or scale``.
        """
        if outscale is not None and not outscale > 0:
            raise ValueError(f"outscale must be a positive number, got {outscale}")
        height, width = images.shape[-2:]
        if tile is None and self.config.inference_tile and max(height, width) > self.config.inference_tile:
            tile = self.config.inference_tile
        output = super().forward(images, tile=tile or None, tile_overlap=tile_overlap, **options)
        if outscale is None or outscale == self.scale:
            return output
        return bicubic_resize(output, (max(1, round(height * outscale)), max(1, round(width * outscale))))
