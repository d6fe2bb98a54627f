"""CycleGAN: unpaired translation between two domains with cycle consistency (Zhu et al.).

Two generators (A→B and B→A) and two discriminators (one judging each domain). The
generators learn to fool them while a round trip A→B→A (and B→A→B) returns the input, and,
with the identity loss, an image already in the target domain passes through unchanged.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from translate.augment import AugmentConfig, DiscriminatorAugment, build_augment
from translate.config import ConfigError, option
from translate.data import DataConfig, UnpairedDataset
from translate.losses import (
    AdversarialKind,
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
class CycleGANLossConfig:
    gan: AdversarialKind = option("lsgan", "adversarial loss: lsgan (CycleGAN's), vanilla, hinge, wgan")
    cycle_weight_a: float = option(10.0, "weight of the A→B→A cycle loss")
    cycle_weight_b: float = option(10.0, "weight of the B→A→B cycle loss")
    identity_weight: float = option(
        0.5, "identity loss relative to the cycle weight (G_ab(b) ≈ b); 0 turns it off"
    )
    gp_weight: float = option(10.0, "gradient-penalty weight (wgan only)")


@dataclass(frozen=True)
class CycleGANConfig:
    domain_a: str = option("A", "name of domain A (e.g. horse); --direction horse2zebra then works")
    domain_b: str = option("B", "name of domain B (e.g. zebra)")
    data: DataConfig = option(DataConfig(), "")
    generator: GeneratorConfig = option(GeneratorConfig(kind="resnet", dropout=0.0), "")
    discriminator: DiscriminatorConfig = option(DiscriminatorConfig(), "")
    loss: CycleGANLossConfig = option(CycleGANLossConfig(), "")
    pool_size: int = option(50, "past generated images each discriminator also sees (0 = none)")
    augment: AugmentConfig = option(AugmentConfig(), "")
    optim: OptimConfig = option(OptimConfig(), "")


class ImagePool:
    """A history of generated images (Shrivastava et al.), so D does not forget old fakes.

    Until the pool holds ``size`` images, each query stores its images and returns them. Once
    full, each image is returned as it is with probability 0.5, and otherwise swapped for a
    randomly chosen stored one (which the new image replaces). Draws come from the global
    torch RNG, which the trainer saves, so a resumed run draws the same.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"pool size must be at least 0, got {size}")
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        """Shape: ``[N, C, H, W]`` in, ``[N, C, H, W]`` out (detached)."""
        images = images.detach()
        if self.size == 0:
            return images
        returned = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                returned.append(image)
            elif float(torch.rand(())) < 0.5:
                slot = int(torch.randint(len(self.images), ()))
                returned.append(self.images[slot].to(image.dtype))
                self.images[slot] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned)

    def state(self) -> list[Tensor]:
        # A list, not a stacked tensor: with preprocess=none the stored images differ in size.
        return [image.float().cpu() for image in self.images]

    def load_state(self, images: list[Tensor] | Tensor | None, device: torch.device) -> None:
        """Restore :meth:`state` (runs saved before it was a list stored one stacked tensor)."""
        self.images = [] if images is None else [image.to(device) for image in images]


def _canonical_direction(config: CycleGANConfig, direction: str) -> str | None:
    """``a2b`` or ``b2a`` for any spelling of a direction (case aside: ``AtoB``, ``horse2zebra``);
    None for one that names neither."""
    a, b = config.domain_a.lower(), config.domain_b.lower()
    key = direction.lower()
    if key in {"a2b", "atob", f"{a}2{b}"}:
        return "a2b"
    if key in {"b2a", "btoa", f"{b}2{a}"}:
        return "b2a"
    return None


class CycleGAN(Pipeline):
    """Unpaired translation both ways.

    Batches from :meth:`build_dataset` hold ``a`` and ``b`` in [0, 1], independently drawn.
    Both domains need the same channel count (each generator's output feeds the other).
    Inference option ``direction``: ``a2b`` (default), ``b2a``, or the domain names
    (``horse2zebra``).
    """

    name = "cyclegan"
    config_class = CycleGANConfig
    validation_key = "cycle_l1"

    def __init__(self, config: CycleGANConfig) -> None:
        super().__init__(config)
        config = self.config  # with its automatic choices made concrete
        data = config.data
        if data.input_channels != data.output_channels:
            raise ConfigError(
                f"cyclegan needs the same channels in both domains (each generator feeds the other); "
                f"got data.input_channels={data.input_channels}, data.output_channels={data.output_channels}"
            )
        # Compared as --direction matches them: without regard to case.
        if config.domain_a.casefold() == config.domain_b.casefold() or not config.domain_a or not config.domain_b:
            raise ConfigError(f"domain names must be two different non-empty names, got {config.domain_a!r}, {config.domain_b!r}")
        for name in (config.domain_a, config.domain_b):
            if "2" in name:
                raise ConfigError(f"domain name {name!r} must not contain '2' (directions are written A2B)")
        channels = data.input_channels
        self.generator_ab = build_generator(config.generator, channels, channels, data.image_size)
        self.generator_ba = build_generator(config.generator, channels, channels, data.image_size)
        self.discriminator_a = build_discriminator(config.discriminator, channels)
        self.discriminator_b = build_discriminator(config.discriminator, channels)
        midpoint = real_fake_midpoint(config.loss.gan)
        self.augment_a: DiscriminatorAugment = build_augment(config.augment, midpoint)
        self.augment_b: DiscriminatorAugment = build_augment(config.augment, midpoint)
        self.pool_a = ImagePool(config.pool_size)  # fake A images, for discriminator_a
        self.pool_b = ImagePool(config.pool_size)
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
        return self.generator_ab.size_multiple

    @property
    def domains(self) -> tuple[str, str]:
        return self.config.domain_a, self.config.domain_b

    def checkpoint_metadata(self) -> dict[str, Any]:
        data = self.config.data
        return super().checkpoint_metadata() | {
            "domains": list(self.domains),
            "directions": self.direction_names(),
            "image_size": data.image_size,
            "preprocess": data.preprocess,
        }

    def inference_modules(self) -> dict[str, nn.Module]:
        return {"generator_ab": self.generator_ab, "generator_ba": self.generator_ba}

    def training_modules(self) -> dict[str, nn.Module]:
        return self.inference_modules() | {
            "discriminator_a": self.discriminator_a,
            "discriminator_b": self.discriminator_b,
        }

    def direction_names(self) -> list[str]:
        a, b = self.domains
        return ["a2b", "b2a", f"{a}2{b}", f"{b}2{a}"]

    def generator_for(self, direction: str) -> nn.Module:
        """The generator that translates in ``direction``.

        Raises:
            ValueError: unknown direction; the message lists the valid ones.
        """
        canonical = _canonical_direction(self.config, direction)
        if canonical == "a2b":
            return self.generator_ab
        if canonical == "b2a":
            return self.generator_ba
        raise ValueError(f"unknown direction {direction!r}; choose one of: {', '.join(self.direction_names())}")

    # ------------------------------------------------------------------ training
    def build_dataset(self, root: str | os.PathLike, train: bool) -> UnpairedDataset:
        data = self.config.data
        return UnpairedDataset(
            root,
            channels_a=data.input_channels,
            channels_b=data.output_channels,
            config=data,
            train=train,
            size_multiple=self.size_multiple,
            domains=self.domains,
        )

    def setup_training(self, total_steps: int) -> None:
        optim = self.config.optim
        self.total_steps = total_steps
        generators = itertools.chain(self.generator_ab.parameters(), self.generator_ba.parameters())
        discriminators = itertools.chain(self.discriminator_a.parameters(), self.discriminator_b.parameters())
        self.optimizer_g = make_adam(generators, optim.lr_g, optim)
        self.optimizer_d = make_adam(discriminators, optim.lr_d, optim)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generators": self.optimizer_g, "discriminators": self.optimizer_d}

    def _discriminator_loss(
        self, discriminator: nn.Module, augment: DiscriminatorAugment, real: Tensor, fake: Tensor
    ) -> tuple[Tensor, dict[str, float]]:
        kind = self.config.loss.gan
        with self.autocast():
            pred_real = discriminator(augment(real)[0])
            pred_fake = discriminator(augment(fake)[0])
        augment.observe_real_logits(pred_real if isinstance(pred_real, Tensor) else pred_real[0])
        loss = 0.5 * discriminator_loss(kind, pred_real, pred_fake)  # halved as in CycleGAN
        logged = {}
        if kind == "wgan":
            penalty = gradient_penalty(lambda x: discriminator(augment(x)[0]), real, fake.to(real.dtype))
            loss = loss + self.config.loss.gp_weight * penalty
            logged["gp"] = penalty.item()
        return loss, logged

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        cfg = self.config
        factor = lr_factor(cfg.optim.lr_policy, step, self.total_steps, cfg.optim.decay_fraction)
        set_lr(self.optimizer_g, cfg.optim.lr_g * factor)
        set_lr(self.optimizer_d, cfg.optim.lr_d * factor)
        for module in self.training_modules().values():
            module.train()
        real_a = to_network_range(self.prepare(batch["a"]))  # [N, C, H, W]
        real_b = to_network_range(self.prepare(batch["b"]))

        # Generators: fool both discriminators, survive the round trips, leave targets alone.
        set_requires_grad(self.discriminator_a, False)
        set_requires_grad(self.discriminator_b, False)
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake_b = self.generator_ab(real_a)
            rec_a = self.generator_ba(fake_b)
            fake_a = self.generator_ba(real_b)
            rec_b = self.generator_ab(fake_a)
            pred_fake_b = self.discriminator_b(self.augment_b(fake_b)[0])
            pred_fake_a = self.discriminator_a(self.augment_a(fake_a)[0])
        loss_gan_ab = generator_loss(cfg.loss.gan, pred_fake_b)
        loss_gan_ba = generator_loss(cfg.loss.gan, pred_fake_a)
        loss_cycle_a = reconstruction_loss("l1", rec_a, real_a)
        loss_cycle_b = reconstruction_loss("l1", rec_b, real_b)
        loss_g = (
            loss_gan_ab
            + loss_gan_ba
            + cfg.loss.cycle_weight_a * loss_cycle_a
            + cfg.loss.cycle_weight_b * loss_cycle_b
        )
        losses = {
            "g_ab": loss_gan_ab.item(),
            "g_ba": loss_gan_ba.item(),
            "cycle_a": loss_cycle_a.item(),
            "cycle_b": loss_cycle_b.item(),
        }
        if cfg.loss.identity_weight > 0:
            with self.autocast():
                same_b = self.generator_ab(real_b)
                same_a = self.generator_ba(real_a)
            loss_idt_b = reconstruction_loss("l1", same_b, real_b)
            loss_idt_a = reconstruction_loss("l1", same_a, real_a)
            # As in CycleGAN: G_ab's identity term is weighted by B's cycle weight and vice versa.
            loss_g = loss_g + cfg.loss.identity_weight * (
                cfg.loss.cycle_weight_b * loss_idt_b + cfg.loss.cycle_weight_a * loss_idt_a
            )
            losses |= {"idt_a": loss_idt_a.item(), "idt_b": loss_idt_b.item()}
        loss_g.backward()
        self.optimizer_g.step()

        # Discriminators: reals towards "real", generated images (partly from the pools) towards "fake".
        set_requires_grad(self.discriminator_a, True)
        set_requires_grad(self.discriminator_b, True)
        self.optimizer_d.zero_grad(set_to_none=True)
        loss_d_b, logged_b = self._discriminator_loss(
            self.discriminator_b, self.augment_b, real_b, self.pool_b.query(fake_b)
        )
        loss_d_a, logged_a = self._discriminator_loss(
            self.discriminator_a, self.augment_a, real_a, self.pool_a.query(fake_a)
        )
        (loss_d_a + loss_d_b).backward()
        self.optimizer_d.step()
        losses |= {"d_a": loss_d_a.item(), "d_b": loss_d_b.item()}
        losses |= {f"{k}_a": v for k, v in logged_a.items()} | {f"{k}_b": v for k, v in logged_b.items()}
        losses |= {f"{k}_a": v for k, v in self.augment_a.statistics().items()}
        losses |= {f"{k}_b": v for k, v in self.augment_b.statistics().items()}
        return losses

    def training_state(self) -> dict[str, Any]:
        return {
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "pool_a": self.pool_a.state(),
            "pool_b": self.pool_b.state(),
            "augment_a": self.augment_a.training_state(),
            "augment_b": self.augment_b.training_state(),
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.pool_a.load_state(state.get("pool_a"), self.device)
        self.pool_b.load_state(state.get("pool_b"), self.device)
        self.augment_a.load_training_state(state.get("augment_a", {}))
        self.augment_b.load_training_state(state.get("augment_b", {}))

    @torch.no_grad()
    def _translate_eval(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        was_training = self.generator_ab.training
        self.generator_ab.eval()
        self.generator_ba.eval()
        real_a = to_network_range(self.prepare(batch["a"]))
        real_b = to_network_range(self.prepare(batch["b"]))
        with self.autocast():
            fake_b = self.generator_ab(real_a)
            fake_a = self.generator_ba(real_b)
            rec_a = self.generator_ba(fake_b)
            rec_b = self.generator_ab(fake_a)
        self.generator_ab.train(was_training)
        self.generator_ba.train(was_training)
        named = {"real_a": real_a, "fake_b": fake_b, "rec_a": rec_a, "real_b": real_b, "fake_a": fake_a, "rec_b": rec_b}
        return {name: from_network_range(images) for name, images in named.items()}

    def visuals(self, batch: dict[str, Any]) -> list[Tensor]:
        images = self._translate_eval(batch)
        return [images[name] for name in ("real_a", "fake_b", "rec_a", "real_b", "fake_a", "rec_b")]

    def validation_metrics(self, batch: dict[str, Any]) -> dict[str, float]:
        images = self._translate_eval(batch)
        cycle = 0.5 * (
            (images["rec_a"] - images["real_a"]).abs().mean() + (images["rec_b"] - images["real_b"]).abs().mean()
        )
        metrics = {"cycle_l1": float(cycle)}
        paired = batch.get("paired")
        if paired is not None and bool(torch.as_tensor(paired).all()):
            # Held-out pairs with a known truth (an aligned set used unpaired): score the translation.
            metrics["l1_a2b"] = float((images["fake_b"] - images["real_b"]).abs().mean())
            metrics["l1_b2a"] = float((images["fake_a"] - images["real_a"]).abs().mean())
        return metrics

    # ------------------------------------------------------------------ inference
    def inference_options(self) -> dict[str, str]:
        return {"direction": f"one of {', '.join(self.direction_names())} (default a2b)"}

    @classmethod
    def canonical_options(cls, config: CycleGANConfig, options: dict[str, Any]) -> dict[str, Any]:
        """Every spelling of a direction (``horse2zebra``, ``AtoB``, none) as ``a2b`` or ``b2a``."""
        canonical = dict(options)
        direction = _canonical_direction(config, str(options.get("direction", "a2b")))
        if direction is not None:
            canonical["direction"] = direction
        return canonical

    def translate_batch(self, images: Tensor, direction: str = "a2b", **options: Any) -> Tensor:
        generator = self.generator_for(direction)
        generator.eval()
        with self.autocast():
            output = generator(to_network_range(images))
        return from_network_range(output)
