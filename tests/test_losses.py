"""Loss values against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from translate.losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    real_fake_midpoint,
    reconstruction_loss,
)

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.0, 3.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_vanilla_losses_by_hand() -> None:
    # BCE(real, 1) = softplus(-x); BCE(fake, 0) = softplus(x).
    d_real = (softplus(-2.0) + softplus(1.0)) / 2
    d_fake = (softplus(0.0) + softplus(3.0)) / 2
    assert discriminator_loss("vanilla", REAL, FAKE).item() == pytest.approx(d_real + d_fake, rel=1e-6)
    # Non-saturating generator loss: BCE(fake, 1).
    g = (softplus(-0.0) + softplus(-3.0)) / 2
    assert generator_loss("vanilla", FAKE).item() == pytest.approx(g, rel=1e-6)


def test_lsgan_losses_by_hand() -> None:
    d = ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + (0**2 + 3**2) / 2  # 2.5 + 4.5
    assert discriminator_loss("lsgan", REAL, FAKE).item() == pytest.approx(7.0)
    assert d == 7.0
    assert generator_loss("lsgan", FAKE).item() == pytest.approx(((0 - 1) ** 2 + (3 - 1) ** 2) / 2)


def test_hinge_losses_by_hand() -> None:
    # relu(1 - [2, -1]) = [0, 2] -> 1; relu(1 + [0, 3]) = [1, 4] -> 2.5
    assert discriminator_loss("hinge", REAL, FAKE).item() == pytest.approx(3.5)
    assert generator_loss("hinge", FAKE).item() == pytest.approx(-1.5)


def test_wgan_losses_by_hand() -> None:
    assert discriminator_loss("wgan", REAL, FAKE).item() == pytest.approx(1.5 - 0.5)
    assert generator_loss("wgan", FAKE).item() == pytest.approx(-1.5)


def test_multiscale_logits_are_averaged_over_scales() -> None:
    single = discriminator_loss("lsgan", REAL, FAKE)
    doubled = discriminator_loss("lsgan", [REAL, REAL * 0 + 1], [FAKE, FAKE * 0])
    assert doubled.item() == pytest.approx((single.item() + 0.0) / 2)


def test_losses_are_float32_under_bf16_inputs() -> None:
    loss = generator_loss("vanilla", FAKE.to(torch.bfloat16))
    assert loss.dtype == torch.float32


def test_unknown_loss_names_the_choices() -> None:
    with pytest.raises(ValueError, match="vanilla, lsgan, hinge, wgan"):
        generator_loss("relativistic", FAKE)  # type: ignore[arg-type]


def test_midpoints() -> None:
    assert real_fake_midpoint("lsgan") == 0.5
    assert real_fake_midpoint("vanilla") == real_fake_midpoint("hinge") == 0.0


def test_gradient_penalty_of_a_linear_critic() -> None:
    """critic(x) = sum(w * x): the gradient is w everywhere, so the penalty is (‖w‖ - 1)²."""
    weight = torch.full((1, 2, 2, 2), 0.5)  # ‖w‖ = sqrt(8 * 0.25) = sqrt(2)
    critic = lambda x: (x * weight).flatten(1).sum(1)  # noqa: E731
    penalty = gradient_penalty(critic, torch.randn(3, 2, 2, 2), torch.randn(3, 2, 2, 2))
    assert penalty.item() == pytest.approx((math.sqrt(2) - 1) ** 2, rel=1e-5)


def test_gradient_penalty_reaches_the_critic_parameters() -> None:
    critic = torch.nn.Conv2d(3, 1, 3)
    penalty = gradient_penalty(critic, torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8))
    penalty.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


def test_reconstruction_losses() -> None:
    output, target = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])
    assert reconstruction_loss("l1", output, target).item() == pytest.approx(2.0)
    assert reconstruction_loss("l2", output, target).item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match="differ in shape"):
        reconstruction_loss("l1", output, torch.zeros(3))
