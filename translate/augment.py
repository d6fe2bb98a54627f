"""The augmentation hook every discriminator input passes through.

Pipelines call ``augment(images, condition)`` on real and fake images alike just before the
discriminator. :class:`NoAugment` passes them through; differentiable augmentation (DiffAugment
and adaptive strength) plugs in here with the same contract, so no pipeline changes.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


class DiscriminatorAugment(nn.Module):
    """Contract: the same random draw on ``images`` and their ``condition``; gradients flow through.

    Shape:
        images: ``[N, C, H, W]``; condition: ``[N, C', H, W]`` or None. Returns both, same shapes.
    """

    def forward(self, images: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def observe_real_logits(self, logits: Tensor) -> None:
        """Called with D's outputs on real images each step, for adaptive strength."""

    def training_state(self) -> dict[str, Any]:
        """What a resume needs (e.g. the current strength)."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` returned."""


class NoAugment(DiscriminatorAugment):
    """Identity: the discriminator sees images as they are."""

    def forward(self, images: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return images, condition
