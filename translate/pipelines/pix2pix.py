"""pix2pix: paired translation G(A) → B with a conditional PatchGAN and an L1 term (Isola et al.)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from translate.augment import AugmentConfig, DiscriminatorAugment, build_augment
from translate.config import option
from translate.data import DataConfig, PairedDataset
from translate.losses import (
    AdversarialKind,
    ReconstructionKind,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    real_fake_midpoint,
    reconstruction_loss,
)
from translate.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
)
from translate.optim import OptimConfig, lr_factor, make_adam, set_lr, set_requires_grad
from translate.pipelines.base import Pipeline, from_network_range, to_network_range


@dataclass(frozen=True)
class Pix2PixLossConfig:
    gan: AdversarialKind = option("vanilla", "adversarial loss: vanilla (non-saturating), lsgan, hinge, wgan")
    reconstruction: ReconstructionKind = option("l1", "reconstruction loss between G(A) and B")
    reconstruction_weight: float = option(100.0, "weight of the reconstruction loss")
    gp_weight: float = option(10.0, "gradient-penalty weight (wgan only)")


@dataclass(frozen=True)
class Pix2PixConfig:
    direction: Literal["AtoB", "BtoA"] = option("AtoB", "AtoB translates A into B; BtoA the reverse")
    data: DataConfig = option(DataConfig(), "")
    generator: GeneratorConfig = option(GeneratorConfig(), "")
    discriminator: DiscriminatorConfig = option(DiscriminatorConfig(), "")
    loss: Pix2PixLossConfig = option(Pix2PixLossConfig(), "")
    augment: AugmentConfig = option(AugmentConfig(), "")
    optim: OptimConfig = option(OptimConfig(), "")
    inference_dropout: bool = option(False, "keep dropout active at inference (stochastic outputs)")


class Pix2Pix(Pipeline):
    """Paired image-to-image translation.

    Batches from :meth:`build_dataset` hold ``a`` and ``b`` in [0, 1]; ``direction`` picks
    which one is the input. The discriminator judges (input, output) pairs concatenated on
    channels, real and fake alike passing through the augmentation hook first.
    """

    name = "pix2pix"
    config_class = Pix2PixConfig

    def __init__(self, config: Pix2PixConfig) -> None:
        super().__init__(config)
        config = self.config  # with its automatic choices made concrete
        data = config.data
        self.generator = build_generator(
            config.generator, data.input_channels, data.output_channels, data.image_size
        )
        self.discriminator = build_discriminator(
            config.discriminator, data.input_channels + data.output_channels
        )
        self.augment: DiscriminatorAugment = build_augment(config.augment, real_fake_midpoint(config.loss.gan))
        self.total_steps = 0

    # ------------------------------------------------------------------ description
    @property
    def input_channels(self) -> int:
        return self.config.data.input_channels

    @property
    def output_channels(self) -> int:
        return self.config.data.output_channels

    @property
    def size_multiple(self) -> int:
        return self.generator.size_multiple

    def checkpoint_metadata(self) -> dict[str, Any]:
        data = self.config.data
        return super().checkpoint_metadata() | {
            "direction": self.config.direction,
            "image_size": data.image_size,
            "preprocess": data.preprocess,
        }

    def inference_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}

    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    # ------------------------------------------------------------------ training
    def build_dataset(self, root: str | os.PathLike, train: bool) -> PairedDataset:
        data = self.config.data
        a_to_b = self.config.direction == "AtoB"
        return PairedDataset(
            root,
            channels_a=data.input_channels if a_to_b else data.output_channels,
            channels_b=data.output_channels if a_to_b else data.input_channels,
            config=data,
            train=train,
            size_multiple=self.size_multiple,
        )

    def _inputs_and_targets(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        source, target = (batch["a"], batch["b"]) if self.config.direction == "AtoB" else (batch["b"], batch["a"])
        return to_network_range(self.prepare(source)), to_network_range(self.prepare(target))

    def setup_training(self, total_steps: int) -> None:
        optim = self.config.optim
        self.total_steps = total_steps
        self.optimizer_g = make_adam(self.generator.parameters(), optim.lr_g, optim)
        self.optimizer_d = make_adam(self.discriminator.parameters(), optim.lr_d, optim)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.optimizer_g, "discriminator": self.optimizer_d}

    def _discriminate(self, condition: Tensor, images: Tensor) -> Tensor | list[Tensor]:
        images, condition = self.augment(images, condition)
        assert condition is not None
        return self.discriminator(torch.cat([condition, images], dim=1))

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        cfg = self.config
        factor = lr_factor(cfg.optim.lr_policy, step, self.total_steps, cfg.optim.decay_fraction)
        set_lr(self.optimizer_g, cfg.optim.lr_g * factor)
        set_lr(self.optimizer_d, cfg.optim.lr_d * factor)
        self.generator.train()
        self.discriminator.train()
        real_a, real_b = self._inputs_and_targets(batch)
        with self.autocast():
            fake_b = self.generator(real_a)

        # Discriminator: real pairs towards "real", generated pairs towards "fake".
        set_requires_grad(self.discriminator, True)
        self.optimizer_d.zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake = self._discriminate(real_a, fake_b.detach())
            pred_real = self._discriminate(real_a, real_b)
        self.augment.observe_real_logits(pred_real if isinstance(pred_real, Tensor) else pred_real[0])
        # Halved as in pix2pix, so D learns at half the generator's pace.
        loss_d = 0.5 * discriminator_loss(cfg.loss.gan, pred_real, pred_fake)
        losses = {"d": loss_d.item()}
        if cfg.loss.gan == "wgan":
            penalty = gradient_penalty(
                # Through the augmentation like every other input D sees.
                lambda pair: self._discriminate(pair[:, : real_a.shape[1]], pair[:, real_a.shape[1] :]),
                torch.cat([real_a, real_b], dim=1),
                torch.cat([real_a, fake_b.detach().to(real_a.dtype)], dim=1),
            )
            loss_d = loss_d + cfg.loss.gp_weight * penalty
            losses["gp"] = penalty.item()
        loss_d.backward()
        self.optimizer_d.step()

        # Generator: fool D and stay close to the target.
        set_requires_grad(self.discriminator, False)
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake = self._discriminate(real_a, fake_b)
        loss_g_gan = generator_loss(cfg.loss.gan, pred_fake)
        loss_rec = reconstruction_loss(cfg.loss.reconstruction, fake_b, real_b)
        loss_g = loss_g_gan + cfg.loss.reconstruction_weight * loss_rec
        loss_g.backward()
        self.optimizer_g.step()
        set_requires_grad(self.discriminator, True)
        return (
            losses
            | {"g_gan": loss_g_gan.item(), "g_" + cfg.loss.reconstruction: loss_rec.item()}
            | self.augment.statistics()
        )

    def training_state(self) -> dict[str, Any]:
        return {
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "augment": self.augment.training_state(),
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.augment.load_training_state(state.get("augment", {}))

    @torch.no_grad()
    def _generate_eval(self, real_a: Tensor) -> Tensor:
        was_training = self.generator.training
        self._set_inference_mode()
        with self.autocast():
            fake_b = self.generator(real_a)
        self.generator.train(was_training)
        return fake_b

    def _set_inference_mode(self) -> None:
        self.generator.eval()
        if self.config.inference_dropout:
            for module in self.generator.modules():
                if isinstance(module, nn.Dropout):
                    module.train()

    def visuals(self, batch: dict[str, Any]) -> list[Tensor]:
        real_a, real_b = self._inputs_and_targets(batch)
        fake_b = self._generate_eval(real_a)
        return [from_network_range(real_a), from_network_range(fake_b), from_network_range(real_b)]

    def validation_metrics(self, batch: dict[str, Any]) -> dict[str, float]:
        real_a, real_b = self._inputs_and_targets(batch)
        fake_b = self._generate_eval(real_a)
        l1 = (from_network_range(fake_b) - from_network_range(real_b)).abs().mean()
        return {"l1": float(l1)}

    # ------------------------------------------------------------------ inference
    def translate_batch(self, images: Tensor, **options: Any) -> Tensor:
        self._set_inference_mode()
        with self.autocast():
            output = self.generator(to_network_range(images))
        return from_network_range(output)
