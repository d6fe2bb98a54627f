"""Adversarial and reconstruction losses: pure functions on logits and images.

Every adversarial loss takes raw discriminator outputs (a tensor, or a list of tensors from a
multi-scale discriminator, averaged over scales) and computes in float32, so bf16 autocast
never degrades the loss itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

AdversarialKind = Literal["vanilla", "lsgan", "hinge", "wgan"]
ADVERSARIAL_KINDS: tuple[str, ...] = ("vanilla", "lsgan", "hinge", "wgan")
ReconstructionKind = Literal["l1", "l2"]

Logits = Tensor | Sequence[Tensor]


def _scales(logits: Logits) -> list[Tensor]:
    return [logits.float()] if isinstance(logits, Tensor) else [t.float() for t in logits]


def _check(kind: str) -> None:
    if kind not in ADVERSARIAL_KINDS:
        raise ValueError(f"unknown adversarial loss {kind!r}; choose one of: {', '.join(ADVERSARIAL_KINDS)}")


def discriminator_loss(kind: AdversarialKind, real_logits: Logits, fake_logits: Logits) -> Tensor:
    """The discriminator's loss on real and fake logits (lower is better for D).

    - ``vanilla``: BCE(real, 1) + BCE(fake, 0) on logits.
    - ``lsgan``: (real - 1)² + fake², means.
    - ``hinge``: relu(1 - real) + relu(1 + fake), means.
    - ``wgan``: fake - real, means (add :func:`gradient_penalty`).

    The two halves are summed, not averaged; pix2pix's 0.5 factor is the pipeline's choice.
    """
    _check(kind)
    total = torch.zeros((), device=_scales(real_logits)[0].device)
    reals, fakes = _scales(real_logits), _scales(fake_logits)
    if len(reals) != len(fakes):
        raise ValueError(f"{len(reals)} real scales but {len(fakes)} fake scales")
    for real, fake in zip(reals, fakes):
        if kind == "vanilla":
            loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
                fake, torch.zeros_like(fake)
            )
        elif kind == "lsgan":
            loss = (real - 1).pow(2).mean() + fake.pow(2).mean()
        elif kind == "hinge":
            loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        else:
            loss = fake.mean() - real.mean()
        total = total + loss
    return total / len(reals)


def generator_loss(kind: AdversarialKind, fake_logits: Logits) -> Tensor:
    """The generator's adversarial loss on the discriminator's logits for its fakes.

    ``vanilla`` is the non-saturating form BCE(fake, 1); ``lsgan`` (fake - 1)²; ``hinge`` and
    ``wgan`` -fake.
    """
    _check(kind)
    fakes = _scales(fake_logits)
    total = torch.zeros((), device=fakes[0].device)
    for fake in fakes:
        if kind == "vanilla":
            loss = F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        elif kind == "lsgan":
            loss = (fake - 1).pow(2).mean()
        else:
            loss = -fake.mean()
        total = total + loss
    return total / len(fakes)


def real_fake_midpoint(kind: AdversarialKind) -> float:
    """The discriminator output that sits halfway between "real" and "fake" for this loss.

    Adaptive augmentation centres D's real outputs on it: 0 for logits (vanilla, hinge, wgan),
    0.5 for LSGAN's 0/1 targets.
    """
    _check(kind)
    return 0.5 if kind == "lsgan" else 0.0


def gradient_penalty(
    critic: Callable[[Tensor], Logits],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP: mean of (‖∇ critic(x̂)‖₂ - 1)² on random interpolates x̂ of real and fake.

    Args:
        critic: the discriminator (conditional inputs already concatenated into real/fake).
        real: ``[N, C, H, W]`` real inputs.
        fake: ``[N, C, H, W]`` fake inputs (detached from the generator).
        generator: random source for the interpolation weights.

    Returns:
        A scalar to add to the discriminator loss, times its weight (10 in the paper).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=real.device, dtype=real.dtype)
    interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    outputs = _scales(critic(interpolates))
    gradients = torch.autograd.grad(
        outputs=[o.sum() for o in outputs],
        inputs=interpolates,
        create_graph=True,
    )[0]
    norms = gradients.float().flatten(1).norm(2, dim=1)
    return (norms - 1).pow(2).mean()


def reconstruction_loss(kind: ReconstructionKind, output: Tensor, target: Tensor) -> Tensor:
    """Mean absolute (``l1``) or squared (``l2``) error, in float32."""
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ in shape")
    if kind == "l1":
        return F.l1_loss(output.float(), target.float())
    if kind == "l2":
        return F.mse_loss(output.float(), target.float())
    raise ValueError(f"unknown reconstruction loss {kind!r}; choose one of: l1, l2")


def relativistic_discriminator_loss(real_logits: Logits, fake_logits: Logits) -> Tensor:
    """Relativistic average GAN loss of the discriminator (Jolicoeur-Martineau 2018; ESRGAN).

    D judges whether a real image looks *more* real than the average fake, and a fake less real
    than the average real: ``BCE(real - mean(fake), 1) + BCE(fake - mean(real), 0)``, the means
    over the batch (and every patch). Both halves keep their gradients, as in the paper's
    definition; they are summed, like :func:`discriminator_loss`.
    """
    reals, fakes = _scales(real_logits), _scales(fake_logits)
    if len(reals) != len(fakes):
        raise ValueError(f"{len(reals)} real scales but {len(fakes)} fake scales")
    total = torch.zeros((), device=reals[0].device)
    for real, fake in zip(reals, fakes):
        real_vs_fake, fake_vs_real = real - fake.mean(), fake - real.mean()
        total = total + F.binary_cross_entropy_with_logits(real_vs_fake, torch.ones_like(real_vs_fake))
        total = total + F.binary_cross_entropy_with_logits(fake_vs_real, torch.zeros_like(fake_vs_real))
    return total / len(reals)


def relativistic_generator_loss(real_logits: Logits, fake_logits: Logits) -> Tensor:
    """Relativistic average GAN loss of the generator: the discriminator's targets swapped,
    ``BCE(real - mean(fake), 0) + BCE(fake - mean(real), 1)``; the real logits are detached.

    Unlike the standard losses the generator also learns from the real images' logits, which
    ESRGAN credits for sharper edges and texture.
    """
    reals, fakes = [t.detach() for t in _scales(real_logits)], _scales(fake_logits)
    if len(reals) != len(fakes):
        raise ValueError(f"{len(reals)} real scales but {len(fakes)} fake scales")
    total = torch.zeros((), device=fakes[0].device)
    for real, fake in zip(reals, fakes):
        real_vs_fake, fake_vs_real = real - fake.mean(), fake - real.mean()
        total = total + F.binary_cross_entropy_with_logits(real_vs_fake, torch.zeros_like(real_vs_fake))
        total = total + F.binary_cross_entropy_with_logits(fake_vs_real, torch.ones_like(fake_vs_real))
    return total / len(reals)


def feature_matching_loss(fake_features: Sequence[Tensor], real_features: Sequence[Tensor]) -> Tensor:
    """Discriminator feature matching (pix2pixHD): the mean over layers of L1(fake, real).

    A perceptual loss that needs no pretrained network: the discriminator's own activations
    for the generated and the real image should agree. Real features are detached.

    Args:
        fake_features: activations for the generated images, one tensor per layer.
        real_features: the same layers' activations for the real images.
    """
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(f"need the same non-zero number of layers, got {len(fake_features)} and {len(real_features)}")
    total = torch.zeros((), device=fake_features[0].device)
    for fake, real in zip(fake_features, real_features):
        if fake.shape != real.shape:
            raise ValueError(f"feature shapes differ: {tuple(fake.shape)} and {tuple(real.shape)}")
        total = total + F.l1_loss(fake.float(), real.detach().float())
    return total / len(fake_features)
