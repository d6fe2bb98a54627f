"""Differentiable augmentation of every discriminator input (DiffAugment, StyleGAN2-ADA strength).

Pipelines call ``augment(images, condition)`` on real and fake images alike just before the
discriminator, never in the dataset: the discriminator then sees many versions of each
training image and overfits later, while every op is differentiable so the generator still
gets its gradient through them. :class:`NoAugment` passes images through;
:func:`build_augment` makes :class:`DiffAugment` from an :class:`AugmentConfig`.

The policy ops, as DiffAugment (Zhao et al., 2020) defines them on images in [-1, 1]:

- ``color``: brightness + U(-0.5, 0.5), saturation × U(0, 2) about the pixel's channel mean,
  contrast × U(0.5, 1.5) about the image mean; on the image only, never on the condition.
- ``translation``: an integer shift of up to 1/8 of each side, zero fill.
- ``cutout``: a square of half the image side zeroed (partly outside the image at times).

Geometric ops replay one draw on the image and its condition, so a pair stays aligned.
Random parameters are drawn (:func:`draw_parameters`) apart from their application
(:func:`apply_color`, :func:`apply_geometry`), from the global torch RNG, which the trainer
saves: a resumed run draws what the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from kornia.enhance import adjust_brightness
from kornia.geometry.transform import translate
from torch import Tensor, nn
from torch import distributed as dist

from translate.config import option

#: The policy ops, in the order they are applied whatever the order they are named in:
#: colour before the geometric ops, so the zero fill of a shift or cutout is never recoloured.
POLICY_OPS: tuple[str, ...] = ("color", "translation", "cutout")
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


@dataclass(frozen=True)
class AugmentConfig:
    policy: str = option(
        "", "DiffAugment ops applied to every discriminator input, comma-separated: color, translation, cutout "
        "(empty = off)"
    )
    p: float | None = option(
        None, "probability that each op is applied to each image; none = 0 when adaptive (it rises as D "
        "overfits), 1 when fixed"
    )
    adaptive: bool = option(True, "adjust p during training to hold D's overfitting signal near target (StyleGAN2-ADA)")
    target: float = option(0.6, "target of r_t = E[sign(D(real) - midpoint)]; 0 keeps p fixed")
    adjust_every: int = option(4, "steps between adjustments of p")
    adjust_kimg: float = option(
        10.0, "thousands of real images over which p can go from 0 to 1 (StyleGAN2-ADA uses 500 for sets of "
        "tens of thousands of images trained on millions; 10 suits our sets of a few thousand)"
    )


# ---------------------------------------------------------------------------------- pure ops
def adjust_saturation_about_mean(images: Tensor, factor: Tensor) -> Tensor:
    """Scale each pixel's distance from its channel mean (DiffAugment's saturation).

    Unlike ``kornia.enhance.adjust_saturation`` it takes any number of channels and any value
    range and does not clamp (a clamp would stop the generator's gradient), so it suits images
    in [-1, 1]. One channel: unchanged.

    Shape:
        images: ``[N, C, H, W]``; factor: ``[N]``. Returns ``[N, C, H, W]``.
    """
    mean = images.mean(dim=1, keepdim=True)
    return (images - mean) * factor.to(images.dtype).view(-1, 1, 1, 1) + mean


def adjust_contrast_about_mean(images: Tensor, factor: Tensor) -> Tensor:
    """Scale each image's distance from its mean over channels and pixels (DiffAugment's contrast).

    ``kornia.enhance.adjust_contrast`` scales about 0 and ``adjust_contrast_with_mean_subtraction``
    clamps to [0, 1]; neither is DiffAugment's op on [-1, 1] images.

    Shape:
        images: ``[N, C, H, W]``; factor: ``[N]``. Returns ``[N, C, H, W]``.
    """
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * factor.to(images.dtype).view(-1, 1, 1, 1) + mean


def translate_with_zeros(images: Tensor, shift: Tensor) -> Tensor:
    """Shift each image by whole pixels, zeros filling what comes in from outside.

    kornia's ``translate`` with nearest sampling: with integer shifts it is an exact copy of the
    pixels (differentiable with respect to them), and the grid is built in float32 at least so
    that bf16 cannot round a coordinate to the wrong pixel.

    Shape:
        images: ``[N, C, H, W]``; shift: ``[N, 2]`` integer ``(dx, dy)``, positive right and down.
    """
    compute_dtype = images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32
    moved = translate(
        images.to(compute_dtype), shift.to(compute_dtype), mode="nearest", padding_mode="zeros", align_corners=True
    )
    return moved.to(images.dtype)


def cutout_mask(corner: Tensor, size: tuple[int, int], height: int, width: int) -> Tensor:
    """1 outside and 0 inside a ``size`` rectangle per image whose top-left is ``corner``.

    Shape:
        corner: ``[N, 2]`` integer ``(top, left)``, may be negative or past the edge (the
        rectangle is clipped). Returns ``[N, 1, H, W]``.
    """
    rows = torch.arange(height, device=corner.device).view(1, height, 1)
    cols = torch.arange(width, device=corner.device).view(1, 1, width)
    top, left = corner[:, 0].view(-1, 1, 1), corner[:, 1].view(-1, 1, 1)
    inside = (rows >= top) & (rows < top + size[0]) & (cols >= left) & (cols < left + size[1])
    return (~inside).unsqueeze(1)


# ---------------------------------------------------------------------------------- draws
@dataclass(frozen=True)
class AugmentDraw:
    """The random parameters of one augmentation pass over a batch, replayable on several tensors.

    ``applied[op]`` says which images get ``op`` (a Bernoulli(p) draw per image and op, as
    StyleGAN2-ADA draws each transformation); the others pass through that op unchanged.
    Parameters of ops outside the policy are None.
    """

    height: int
    width: int
    applied: dict[str, Tensor]  # op → [N] bool
    brightness: Tensor | None = None  # [N] added, U(-0.5, 0.5)
    saturation: Tensor | None = None  # [N] factor, U(0, 2)
    contrast: Tensor | None = None  # [N] factor, U(0.5, 1.5)
    shift: Tensor | None = None  # [N, 2] integer (dx, dy), each within ±round(side / 8)
    cutout_corner: Tensor | None = None  # [N, 2] integer (top, left) of the cutout square
    cutout_size: tuple[int, int] = (0, 0)


def draw_parameters(
    policy: Sequence[str], batch: int, height: int, width: int, p: float, device: torch.device
) -> AugmentDraw:
    """Draw one pass's parameters from the global torch RNG (DiffAugment's distributions).

    Every parameter is drawn whatever the Bernoulli outcome, so the RNG advances by an amount
    that depends only on the policy and the batch shape.
    """
    applied: dict[str, Tensor] = {}
    values: dict[str, Any] = {}
    for op in POLICY_OPS:
        if op not in policy:
            continue
        applied[op] = torch.rand(batch, device=device) < p
        if op == "color":
            values["brightness"] = torch.rand(batch, device=device) - 0.5
            values["saturation"] = torch.rand(batch, device=device) * 2
            values["contrast"] = torch.rand(batch, device=device) + 0.5
        elif op == "translation":
            reach_y, reach_x = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
            dx = torch.randint(-reach_x, reach_x + 1, (batch,), device=device)
            dy = torch.randint(-reach_y, reach_y + 1, (batch,), device=device)
            values["shift"] = torch.stack([dx, dy], dim=1)
        elif op == "cutout":
            size = (int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5))
            # The square's centre is anywhere in the image (DiffAugment's range), so it is
            # sometimes clipped by an edge.
            centre_y = torch.randint(0, height + (1 - size[0] % 2), (batch,), device=device)
            centre_x = torch.randint(0, width + (1 - size[1] % 2), (batch,), device=device)
            values["cutout_corner"] = torch.stack([centre_y - size[0] // 2, centre_x - size[1] // 2], dim=1)
            values["cutout_size"] = size
    return AugmentDraw(height=height, width=width, applied=applied, **values)


def _where(applied: Tensor, changed: Tensor, original: Tensor) -> Tensor:
    return torch.where(applied.view(-1, 1, 1, 1), changed, original)


def apply_color(images: Tensor, draw: AugmentDraw) -> Tensor:
    """The draw's colour changes (brightness, saturation, contrast) on the images it selected."""
    if "color" not in draw.applied or not draw.applied["color"].any():
        return images
    assert draw.brightness is not None and draw.saturation is not None and draw.contrast is not None
    changed = adjust_brightness(images, draw.brightness, clip_output=False)
    changed = adjust_saturation_about_mean(changed, draw.saturation)
    changed = adjust_contrast_about_mean(changed, draw.contrast)
    return _where(draw.applied["color"], changed, images)


def apply_geometry(images: Tensor, draw: AugmentDraw) -> Tensor:
    """The draw's translation and cutout on the images it selected; any channel count.

    Shape:
        images: ``[N, C, H, W]`` with the H, W the draw was made for.
    """
    if images.shape[-2:] != (draw.height, draw.width):
        raise ValueError(f"draw made for {draw.height}×{draw.width} images, got {tuple(images.shape)}")
    if "translation" in draw.applied and draw.applied["translation"].any():
        assert draw.shift is not None
        images = _where(draw.applied["translation"], translate_with_zeros(images, draw.shift), images)
    if "cutout" in draw.applied and draw.applied["cutout"].any():
        assert draw.cutout_corner is not None
        mask = cutout_mask(draw.cutout_corner, draw.cutout_size, draw.height, draw.width)
        images = _where(draw.applied["cutout"], images * mask.to(images.dtype), images)
    return images


# ---------------------------------------------------------------------------------- modules
class DiscriminatorAugment(nn.Module):
    """Contract: geometric changes drawn once and applied to ``images`` and their ``condition``
    alike, colour changes to ``images`` only; gradients flow through. No parameters or buffers,
    so checkpoints do not change; random draws from the global torch RNG, so resume is exact.

    Shape:
        images: ``[N, C, H, W]``; condition: ``[N, C', H, W]`` or None. Returns both, same shapes.
    """

    def forward(self, images: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def observe_real_logits(self, logits: Tensor) -> None:
        """Called with D's outputs on real images each step, for adaptive strength."""

    def statistics(self) -> dict[str, float]:
        """Values for the training log (e.g. ``aug_p``); empty when there is nothing to report."""
        return {}

    def training_state(self) -> dict[str, Any]:
        """What a resume needs (e.g. the current strength)."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` returned."""


class NoAugment(DiscriminatorAugment):
    """Identity: the discriminator sees images as they are."""

    def forward(self, images: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return images, condition


class DiffAugment(DiscriminatorAugment):
    """DiffAugment's policy ops, each applied to each image with probability ``p``.

    With ``target`` set, ``p`` adapts as in StyleGAN2-ADA: every ``adjust_every`` steps the
    overfitting signal r_t = E[sign(D(real) - midpoint)] over those steps' real outputs is
    compared with ``target``; p rises by ``images / (adjust_kimg * 1000)`` when r_t is above it
    (D too sure of the reals) and falls by as much when below, clamped to [0, 1]. Under
    torchrun the signal is summed over all ranks, so every rank holds the same p.

    Args:
        policy: op names from :data:`POLICY_OPS`.
        p: the starting (or, without ``target``, fixed) probability.
        midpoint: D's output halfway between real and fake (:func:`translate.losses.real_fake_midpoint`).
        target: the r_t to hold; None keeps p fixed.
        adjust_every: steps between adjustments.
        adjust_kimg: thousands of images for p to travel from 0 to 1.
    """

    def __init__(
        self,
        policy: Sequence[str],
        p: float,
        midpoint: float = 0.0,
        target: float | None = None,
        adjust_every: int = 4,
        adjust_kimg: float = 10.0,
    ) -> None:
        super().__init__()
        for op in policy:
            _check_op(op)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augment.p must be in [0, 1], got {p}")
        if adjust_every < 1:
            raise ValueError(f"augment.adjust_every must be at least 1, got {adjust_every}")
        if adjust_kimg <= 0:
            raise ValueError(f"augment.adjust_kimg must be positive, got {adjust_kimg}")
        self.policy = tuple(op for op in POLICY_OPS if op in policy)
        self.p = float(p)
        self.midpoint = float(midpoint)
        self.target = target
        self.adjust_every = adjust_every
        self.adjust_kimg = adjust_kimg
        self._reset_signal()

    def _reset_signal(self) -> None:
        self._sign_sum = 0  # Σ sign(D(real) - midpoint) since the last adjustment
        self._outputs = 0  # how many outputs that sum covers
        self._images = 0  # real images they came from
        self._steps = 0

    @property
    def adaptive(self) -> bool:
        return self.target is not None

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)}, p={self.p:.4f}, target={self.target}"

    def forward(self, images: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if condition is not None and condition.shape[-2:] != images.shape[-2:]:
            raise ValueError(f"condition {tuple(condition.shape)} and images {tuple(images.shape)} differ in size")
        if self.p == 0.0:
            return images, condition
        batch, _, height, width = images.shape
        draw = draw_parameters(self.policy, batch, height, width, self.p, images.device)
        images = apply_geometry(apply_color(images, draw), draw)
        if condition is not None:
            condition = apply_geometry(condition, draw)
        return images, condition

    @torch.no_grad()
    def observe_real_logits(self, logits: Tensor) -> None:
        if not self.adaptive:
            return
        signs = torch.sign(logits.float() - self.midpoint).sum().round().long()
        counts = torch.stack([signs, signs.new_tensor(logits.numel()), signs.new_tensor(logits.shape[0])])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
        sign_sum, outputs, images = (int(v) for v in counts.tolist())
        self._sign_sum += sign_sum
        self._outputs += outputs
        self._images += images
        self._steps += 1
        if self._steps >= self.adjust_every:
            assert self.target is not None
            overfitting = self._sign_sum / max(self._outputs, 1)
            direction = (overfitting > self.target) - (overfitting < self.target)
            self.p = min(max(self.p + direction * self._images / (self.adjust_kimg * 1000), 0.0), 1.0)
            self._reset_signal()

    def statistics(self) -> dict[str, float]:
        return {"aug_p": self.p}

    def training_state(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "sign_sum": self._sign_sum,
            "outputs": self._outputs,
            "images": self._images,
            "steps": self._steps,
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        if not state:  # a run saved before augmentation existed
            return
        self.p = float(state["p"])
        self._sign_sum = int(state.get("sign_sum", 0))
        self._outputs = int(state.get("outputs", 0))
        self._images = int(state.get("images", 0))
        self._steps = int(state.get("steps", 0))


def _check_op(name: str) -> None:
    if name not in POLICY_OPS:
        raise ValueError(f"unknown augment policy {name!r}; choose from: {', '.join(sorted(POLICY_OPS))}")


def parse_policy(text: str) -> tuple[str, ...]:
    """``"color, translation"`` → ``("color", "translation")``; unknown or repeated names are errors."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for index, name in enumerate(names):
        _check_op(name)
        if name in names[:index]:
            raise ValueError(f"augment policy {name!r} is named twice in {text!r}")
    return tuple(names)


def build_augment(config: AugmentConfig, midpoint: float) -> DiscriminatorAugment:
    """The augmentation an :class:`AugmentConfig` describes.

    Args:
        config: the pipeline's ``augment`` block.
        midpoint: D's output halfway between real and fake for the adversarial loss in use
            (:func:`translate.losses.real_fake_midpoint`).

    Returns:
        :class:`NoAugment` when the policy is empty, else :class:`DiffAugment`; it adapts p
        unless ``adaptive`` is false or ``target`` is 0.
    """
    policy = parse_policy(config.policy)
    if not policy:
        return NoAugment()
    adaptive = config.adaptive and config.target != 0
    if adaptive and not 0.0 < config.target < 1.0:
        raise ValueError(f"augment.target must be in (0, 1) (or 0 for a fixed p), got {config.target}")
    p = config.p if config.p is not None else (0.0 if adaptive else 1.0)
    return DiffAugment(
        policy,
        p,
        midpoint=midpoint,
        target=config.target if adaptive else None,
        adjust_every=config.adjust_every,
        adjust_kimg=config.adjust_kimg,
    )
