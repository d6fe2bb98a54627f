"""cbn: class-conditional translation and generation with conditional batch norm and a projection D.

One pipeline, two modes (``mode``):

- ``translation`` (image + target class → image), StarGAN-style on a folder per class: a U-Net or
  ResNet generator with ``norm=cbn`` turns an image of any class into the requested one; the
  cycle ``G(G(x, y'), y) ≈ x`` keeps its content (weight 10), and where classes are aligned
  (the same file name in several class folders, e.g. one emoji in three styles) an optional L1
  term pulls ``G(x, y')`` to the true image.
- ``generation`` (noise + class → image): :class:`~translate.networks.conditional.NoiseGenerator`
  with CBN in every block; keep an EMA of its weights (``--ema-decay``) and sample with the
  truncation trick (:meth:`ClassConditional.sample`).

Both judge images with a projection discriminator (spectral norm, hinge loss by default) and can
add an auxiliary classifier head (``loss.ac_weight``). Classes are named in ``classes``; a request
names one (``"cat"``) or blends several (``"cat:0.5,dog:0.5"``: the class embedding is the
weighted mean of theirs, weights normalised to sum to 1).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from translate.augment import AugmentConfig, DiscriminatorAugment, build_augment
from translate.config import option
from translate.data import ClassFolderDataset, DataConfig, DatasetError
from translate.losses import (
    AdversarialKind,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    real_fake_midpoint,
    reconstruction_loss,
)
from translate.networks import GeneratorConfig, build_generator
from translate.networks.conditional import (
    NoiseGeneratorConfig,
    ProjectionDiscriminator,
    ProjectionDiscriminatorConfig,
    build_noise_generator,
    build_projection_discriminator,
)
from translate.optim import OptimConfig, lr_factor, make_adam, set_lr, set_requires_grad
from translate.pipelines.base import Pipeline, from_network_range, to_network_range

Mode = Literal["translation", "generation"]


@dataclass(frozen=True)
class CBNLossConfig:
    gan: AdversarialKind = option("hinge", "adversarial loss: hinge, vanilla (non-saturating), lsgan, wgan")
    reconstruction_weight: float = option(10.0, "translation: weight of the cycle term |G(G(x, y'), y) - x|")
    paired_weight: float = option(
        0.0, "translation: weight of L1 between G(x, y') and the image of the same name in class y' (aligned classes)"
    )
    ac_weight: float = option(0.0, "weight of the auxiliary-classifier loss (AC-GAN); 0 = no classifier head")
    gp_weight: float = option(10.0, "gradient-penalty weight (wgan only)")


@dataclass(frozen=True)
class CBNConfig:
    mode: Mode = option("translation", "translation (image + class → image) or generation (noise + class → image)")
    classes: tuple[str, ...] = option((), "class names, comma-separated: one folder each under DATA/train")
    data: DataConfig = option(DataConfig(image_size=64), "")
    generator: GeneratorConfig = option(
        GeneratorConfig(kind="resnet", n_blocks=6, norm="cbn", dropout=0.0), "translation generator (norm must be cbn)"
    )
    noise_generator: NoiseGeneratorConfig = option(NoiseGeneratorConfig(), "generation generator")
    discriminator: ProjectionDiscriminatorConfig = option(ProjectionDiscriminatorConfig(), "")
    loss: CBNLossConfig = option(CBNLossConfig(), "")
    augment: AugmentConfig = option(AugmentConfig(), "")
    # Two time-scale updates with beta1 = 0, as SAGAN and BigGAN train projection discriminators.
    optim: OptimConfig = option(OptimConfig(lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.999), "")


def check_class_names(names: tuple[str, ...] | list[str], mode: str = "generation") -> None:
    """Class names must be unique, non-empty and free of the blend syntax's ``:`` and ``,``.

    Raises:
        ValueError: the first problem, naming the class.
    """
    if not names:
        raise ValueError(
            "cbn needs its class names: --set classes=NAME,NAME,... (one folder per class under DATA/train)"
        )
    for index, name in enumerate(names):
        if not name.strip() or any(c in name for c in ":,") or name != name.strip():
            raise ValueError(f"class name {name!r} is not usable: no ':' or ',' and no surrounding spaces")
        if name in names[:index]:
            raise ValueError(f"class {name!r} is named twice in classes")
    if mode == "translation" and len(names) < 2:
        raise ValueError(f"translation needs at least two classes, got {', '.join(names)}")


def class_weights(spec: str, class_names: tuple[str, ...] | list[str]) -> Tensor:
    """Weights over the classes for a request: ``"cat"`` or a blend ``"cat:0.5,dog:0.5"``.

    Weights are normalised to sum to 1 (``"cat:1,dog:3"`` is ``cat:0.25,dog:0.75``); a name
    without ``:w`` in a blend weighs 1.

    Args:
        spec: the request.
        class_names: the model's classes, in label order.

    Returns:
        float32 ``[K]`` weights, ``K = len(class_names)``.

    Raises:
        ValueError: an unknown class (the message lists the valid ones), a repeated class, or a
            weight that is not a non-negative number, or weights summing to zero.

    Example:
        >>> class_weights("cat:1,dog:3", ["cat", "dog", "cow"])
        tensor([0.2500, 0.7500, 0.0000])
    """
    valid = ", ".join(class_names)
    weights = torch.zeros(len(class_names))
    parts = [part.strip() for part in str(spec).split(",")]
    if not any(parts):
        raise ValueError(f"no class given; valid classes: {valid}")
    seen: set[str] = set()
    for part in parts:
        name, _, text = part.partition(":")
        name = name.strip()
        if name not in class_names:
            raise ValueError(f"unknown class {name!r}; valid classes: {valid}")
        if name in seen:
            raise ValueError(f"class {name!r} is named twice in {spec!r}")
        seen.add(name)
        try:
            weight = float(text) if text.strip() else 1.0
        except ValueError:
            raise ValueError(f"class weight {text.strip()!r} of {name!r} is not a number (write {name}:0.5)") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"class weight of {name!r} must be a non-negative number, got {text.strip()}")
        weights[list(class_names).index(name)] = weight
    if weights.sum() <= 0:
        raise ValueError(f"the class weights in {spec!r} sum to zero")
    # Summing to 1 is what makes a blend interpolate: CBN's scale is 1 + W e, and
    # 1 + W (sum_k w_k e_k) = sum_k w_k (1 + W e_k) only when sum_k w_k = 1.
    return weights / weights.sum()


def truncated_noise(count: int, dim: int, seed: int, truncation: float | None = None) -> Tensor:
    """Noise vectors for sampling, each from its own seed: row ``i`` comes from ``seed + i``.

    So a given seed draws the same ``z`` for every class and every ``count``. With
    ``truncation`` (BigGAN's truncation trick) every component whose magnitude exceeds it is
    redrawn until none does: smaller values give more typical, less varied images.

    Shape:
        returns float32 ``[count, dim]``.

    Raises:
        ValueError: ``truncation`` is not positive.
    """
    if truncation is not None and not truncation > 0:
        raise ValueError(f"truncation must be a positive threshold (or none), got {truncation}")
    rows = []
    for index in range(count):
        generator = torch.Generator().manual_seed(seed + index)
        z = torch.randn(dim, generator=generator)
        if truncation is not None:
            outside = z.abs() > truncation
            while outside.any():
                z[outside] = torch.randn(int(outside.sum()), generator=generator)
                outside = z.abs() > truncation
        rows.append(z)
    return torch.stack(rows) if rows else torch.zeros(0, dim)


class ClassConditional(Pipeline):
    """Class-conditional translation or generation (see the module docstring).

    Batches from :meth:`build_dataset` hold ``image`` and ``label`` (its class), ``target_label``
    (the class to translate into), ``target`` and ``has_target`` (the aligned image there, if any).
    """

    name = "cbn"
    config_class = CBNConfig
    validation_key = "cycle_l1"

    def __init__(self, config: CBNConfig) -> None:
        super().__init__(config)
        config = self.config  # with its automatic choices made concrete
        check_class_names(config.classes, config.mode)
        data = config.data
        count = len(config.classes)
        if config.mode == "translation":
            if config.generator.norm != "cbn":
                raise ValueError(f"cbn translation needs generator.norm=cbn, got {config.generator.norm!r}")
            if data.input_channels != data.output_channels:
                raise ValueError(
                    "cbn translation maps images back to their own class (the cycle term): data.input_channels "
                    f"({data.input_channels}) must equal data.output_channels ({data.output_channels})"
                )
            self.generator: nn.Module = build_generator(
                config.generator, data.input_channels, data.output_channels, data.image_size, num_classes=count
            )
        elif config.mode == "generation":
            self.generator = build_noise_generator(config.noise_generator, data.output_channels, data.image_size, count)
        else:
            raise ValueError(f"unknown mode {config.mode!r}; choose one of: generation, translation")
        self.discriminator: ProjectionDiscriminator = build_projection_discriminator(
            config.discriminator,
            data.output_channels,
            data.image_size,
            count,
            auxiliary_classifier=config.loss.ac_weight > 0,
        )
        self.augment: DiscriminatorAugment = build_augment(config.augment, real_fake_midpoint(config.loss.gan))
        self.total_steps = 0

    # ------------------------------------------------------------------ description
    @property
    def class_names(self) -> list[str]:
        return list(self.config.classes)

    @property
    def mode(self) -> Mode:
        return self.config.mode

    @property
    def input_channels(self) -> int:
        return self.config.data.input_channels

    @property
    def output_channels(self) -> int:
        return self.config.data.output_channels

    @property
    def size_multiple(self) -> int:
        return self.generator.size_multiple if self.mode == "translation" else 1  # type: ignore[return-value]

    @property
    def image_size(self) -> int:
        return self.config.data.image_size

    def checkpoint_metadata(self) -> dict[str, Any]:
        data = self.config.data
        return super().checkpoint_metadata() | {
            "class_names": self.class_names,
            "mode": self.mode,
            "image_size": data.image_size,
            "preprocess": data.preprocess,
        }

    def inference_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}

    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def class_weights(self, class_name: str) -> Tensor:
        """Weights ``[K]`` over this model's classes for a request; see :func:`class_weights`."""
        return class_weights(class_name, self.config.classes)

    # ------------------------------------------------------------------ training
    def build_dataset(self, root: str | os.PathLike, train: bool) -> ClassFolderDataset:
        if self.mode == "generation" and not train:
            raise DatasetError(
                "cbn generation has no held-out metric for --val-every; score a checkpoint with "
                "translate eval-classes instead"
            )
        return ClassFolderDataset(
            root,
            self.config.classes,
            channels=self.output_channels,
            config=self.config.data,
            train=train,
            size_multiple=self.size_multiple,
        )

    def setup_training(self, total_steps: int) -> None:
        optim = self.config.optim
        self.total_steps = total_steps
        self.optimizer_g = make_adam(self.generator.parameters(), optim.lr_g, optim)
        self.optimizer_d = make_adam(self.discriminator.parameters(), optim.lr_d, optim)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.optimizer_g, "discriminator": self.optimizer_d}

    def _discriminate(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor | None]:
        images, _ = self.augment(images)
        return self.discriminator.heads(self.discriminator.features(images), labels)

    def _generate(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Real images, their labels, the classes requested and the generator's images for them."""
        real = to_network_range(self.prepare(batch["image"]))
        labels = batch["label"].to(self.device)
        if self.mode == "translation":
            fake_labels = batch["target_label"].to(self.device)
            with self.autocast():
                fake = self.generator(real, fake_labels)
        else:
            # Fakes of the batch's own classes: D sees real and fake of the same class mix.
            fake_labels = labels
            z = torch.randn(real.shape[0], self.config.noise_generator.z_dim, device=self.device)
            with self.autocast():
                fake = self.generator(z, fake_labels)
        return real, labels, fake_labels, fake

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        cfg = self.config
        factor = lr_factor(cfg.optim.lr_policy, step, self.total_steps, cfg.optim.decay_fraction)
        set_lr(self.optimizer_g, cfg.optim.lr_g * factor)
        set_lr(self.optimizer_d, cfg.optim.lr_d * factor)
        self.generator.train()
        self.discriminator.train()
        real, labels, fake_labels, fake = self._generate(batch)

        # Discriminator: real images of their class towards "real", generated ones towards "fake".
        set_requires_grad(self.discriminator, True)
        self.optimizer_d.zero_grad(set_to_none=True)
        with self.autocast():
            real_logits, real_classes = self._discriminate(real, labels)
            fake_logits, _ = self._discriminate(fake.detach(), fake_labels)
        self.augment.observe_real_logits(real_logits)
        loss_d = discriminator_loss(cfg.loss.gan, real_logits, fake_logits)
        losses = {"d": loss_d.item()}
        if real_classes is not None:
            # The auxiliary head learns classes from real images only (AC-GAN's D term on reals).
            loss_d_ac = F.cross_entropy(real_classes.float(), labels)
            loss_d = loss_d + cfg.loss.ac_weight * loss_d_ac
            losses["d_ac"] = loss_d_ac.item()
        if cfg.loss.gan == "wgan":
            penalty = gradient_penalty(
                lambda images: self._discriminate(images, fake_labels)[0], real, fake.detach().to(real.dtype)
            )
            loss_d = loss_d + cfg.loss.gp_weight * penalty
            losses["gp"] = penalty.item()
        loss_d.backward()
        self.optimizer_d.step()

        # Generator: be taken for a real image of the requested class.
        set_requires_grad(self.discriminator, False)
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake_logits, fake_classes = self._discriminate(fake, fake_labels)
        loss_g_gan = generator_loss(cfg.loss.gan, fake_logits)
        loss_g = loss_g_gan
        losses["g_gan"] = loss_g_gan.item()
        if fake_classes is not None:
            loss_g_ac = F.cross_entropy(fake_classes.float(), fake_labels)
            loss_g = loss_g + cfg.loss.ac_weight * loss_g_ac
            losses["g_ac"] = loss_g_ac.item()
        if self.mode == "translation":
            with self.autocast():
                reconstructed = self.generator(fake, labels)
            loss_cycle = reconstruction_loss("l1", reconstructed, real)
            loss_g = loss_g + cfg.loss.reconstruction_weight * loss_cycle
            losses["g_cycle"] = loss_cycle.item()
            if cfg.loss.paired_weight > 0:
                loss_paired = self._paired_l1(fake, batch)
                if loss_paired is not None:
                    loss_g = loss_g + cfg.loss.paired_weight * loss_paired
                    losses["g_paired"] = loss_paired.item()
        loss_g.backward()
        self.optimizer_g.step()
        set_requires_grad(self.discriminator, True)
        return losses | self.augment.statistics()

    def _paired_l1(self, fake: Tensor, batch: dict[str, Any]) -> Tensor | None:
        """Mean L1 between outputs and the aligned images of the target class, over the samples that have one."""
        has_target = batch["has_target"].to(self.device).bool()
        if not has_target.any():
            return None
        target = to_network_range(self.prepare(batch["target"]))
        per_image = (fake.float() - target.float()).abs().flatten(1).mean(dim=1)
        return per_image[has_target].mean()

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
    def _translate_eval(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Held-out translation in [0, 1]: inputs, outputs in the target classes, cycle reconstructions."""
        was_training = self.generator.training
        self.generator.eval()
        real = to_network_range(self.prepare(batch["image"]))
        with self.autocast():
            fake = self.generator(real, batch["target_label"].to(self.device))
            reconstructed = self.generator(fake, batch["label"].to(self.device))
        self.generator.train(was_training)
        return {
            "real": from_network_range(real),
            "fake": from_network_range(fake),
            "rec": from_network_range(reconstructed),
        }

    def visuals(self, batch: dict[str, Any]) -> list[Tensor]:
        if self.mode == "translation":
            images = self._translate_eval(batch)
            return [images["real"], images["fake"], images["rec"]]
        # A real image and a sample of its class, from fixed seeds so grids compare across steps.
        labels = batch["label"].to(self.device)
        z = truncated_noise(len(labels), self.config.noise_generator.z_dim, seed=0).to(self.device)
        return [batch["image"].float(), self._sample_network_eval(z, labels)]

    def validation_metrics(self, batch: dict[str, Any]) -> dict[str, float]:
        """``cycle_l1`` (input vs its round trip through the target class) and, on the samples
        whose aligned image in the target class exists, ``paired_l1`` (output vs that image)."""
        if self.mode == "generation":
            raise DatasetError("cbn generation has no held-out metric; score it with translate eval-classes")
        images = self._translate_eval(batch)
        metrics = {"cycle_l1": float((images["rec"] - images["real"]).abs().mean())}
        has_target = batch["has_target"].bool()
        if has_target.any():
            target = batch["target"].float()
            metrics["paired_l1"] = float((images["fake"].cpu() - target).abs()[has_target].mean())
        return metrics

    # ------------------------------------------------------------------ inference
    def inference_options(self) -> dict[str, str]:
        return {"class_name": f"target class or blend 'a:0.5,b:0.5' (classes: {', '.join(self.class_names)})"}

    def translate_batch(self, images: Tensor, class_name: str | None = None, **options: Any) -> Tensor:
        if self.mode != "translation":
            raise ValueError("this cbn checkpoint generates from noise: use translate sample (pipeline.sample)")
        if class_name is None:
            valid = ", ".join(self.class_names)
            raise ValueError(f"cbn translation needs a target class (class_name); valid classes: {valid}")
        weights = self.class_weights(class_name).to(self.device).expand(images.shape[0], -1)
        self.generator.eval()
        with self.autocast():
            output = self.generator(to_network_range(images), weights)
        return from_network_range(output)

    def _sample_network_eval(self, z: Tensor, labels: Tensor) -> Tensor:
        was_training = self.generator.training
        self.generator.eval()
        with torch.no_grad(), self.autocast():
            images = self.generator(z, labels)
        self.generator.train(was_training)
        return from_network_range(images)

    @torch.inference_mode()
    def sample(self, class_name: str, n: int, seed: int = 0, truncation: float | None = None) -> Tensor:
        """Generate ``n`` images of a class (or a blend), deterministically for a seed.

        Args:
            class_name: ``"cat"`` or ``"cat:0.5,dog:0.5"``.
            n: number of images.
            seed: image ``i`` uses the noise drawn from seed ``seed + i`` (the same for every class).
            truncation: redraw noise components above this magnitude (BigGAN's truncation trick,
                e.g. 0.7); None samples the full normal distribution.

        Returns:
            ``[n, output_channels, image_size, image_size]`` in [0, 1].

        Raises:
            ValueError: a translation checkpoint, an unknown class (listing the valid ones), n < 1,
                or a non-positive truncation.
        """
        if self.mode != "generation":
            raise ValueError(
                "this cbn checkpoint translates images: "
                "use translate convert --class (pipeline(images, class_name=...))"
            )
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        weights = self.class_weights(class_name).to(self.device).expand(n, -1)
        z = truncated_noise(n, self.config.noise_generator.z_dim, seed, truncation).to(self.device)
        return self._sample_network_eval(z, weights).float().clamp(0, 1).cpu()
