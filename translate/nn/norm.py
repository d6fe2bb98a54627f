"""Normalisation layers: batch, instance, none, and class-conditional batch norm (BigGAN style).

The class condition travels explicitly through ``forward(x, condition)`` of every
:class:`ConditionalModule`, never as state stored on a module, so one network can serve
several requests with different classes at the same time.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from translate.nn.layers import InstanceNorm2d

NormKind = Literal["batch", "instance", "none", "cbn"]
NORM_KINDS: tuple[str, ...] = ("batch", "instance", "none", "cbn")


class ConditionalModule(nn.Module):
    """Marker base: ``forward(x, condition)`` takes a class embedding ``[N, D]`` (or None)."""


class ConditionalSequential(nn.Sequential, ConditionalModule):
    """``nn.Sequential`` that hands the condition to the children that take one."""

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:  # type: ignore[override]
        for module in self:
            x = module(x, condition) if isinstance(module, ConditionalModule) else module(x)
        return x


class ClassEmbedding(nn.Module):
    """A shared class embedding; accepts class indices or weights over classes (for blending).

    Args:
        num_classes: number of classes.
        dim: embedding size.

    Shape:
        labels: ``[N]`` integer class indices, or ``[N, num_classes]`` float weights.
        output: ``[N, dim]``; weights give the weighted mix of the class embeddings.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.weight = nn.Parameter(torch.randn(num_classes, dim))

    def forward(self, labels: Tensor) -> Tensor:
        if labels.dtype in (torch.int32, torch.int64):
            if labels.dim() != 1:
                raise ValueError(f"class indices must be [N], got shape {tuple(labels.shape)}")
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(f"class index out of range 0..{self.num_classes - 1}")
            return self.weight[labels]
        if labels.dim() != 2 or labels.shape[1] != self.num_classes:
            raise ValueError(
                f"class weights must be [N, {self.num_classes}], got shape {tuple(labels.shape)}"
            )
        return labels.to(self.weight.dtype) @ self.weight


class ConditionalBatchNorm2d(ConditionalModule):
    """Batch norm whose scale and shift are linear projections of a class embedding.

    ``y = BN(x) * (1 + W_gain e) + W_bias e`` where ``e`` is the embedding of the requested
    class (or a weighted blend of several). The projections start at zero, so a fresh layer is
    a plain batch norm; with a one-hot class it equals a per-class affine batch norm.

    Args:
        num_features: channels ``C`` of the input.
        condition_dim: size ``D`` of the class embedding.

    Shape:
        x: ``[N, C, H, W]``; condition: ``[N, D]``; output: like ``x``.
    """

    def __init__(self, num_features: int, condition_dim: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Linear(condition_dim, num_features, bias=False)
        self.bias = nn.Linear(condition_dim, num_features, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if condition is None:
            raise ValueError("ConditionalBatchNorm2d needs a class condition; pass labels to the network")
        if condition.shape[0] != x.shape[0]:
            raise ValueError(f"condition batch {condition.shape[0]} does not match input batch {x.shape[0]}")
        normalized = self.bn(x)
        gain = 1 + self.gain(condition).to(normalized.dtype)
        bias = self.bias(condition).to(normalized.dtype)
        return normalized * gain[:, :, None, None] + bias[:, :, None, None]


def make_norm(kind: NormKind, num_features: int, condition_dim: int = 0) -> nn.Module:
    """One normalisation layer of the given kind.

    Args:
        kind: ``batch`` (affine, running stats), ``instance`` (no affine, no running stats, as
            in pix2pix/CycleGAN), ``none`` or ``cbn`` (class-conditional batch norm).
        num_features: channels of the input.
        condition_dim: class-embedding size; required for ``cbn``.
    """
    if kind == "batch":
        return nn.BatchNorm2d(num_features)
    if kind == "instance":
        return InstanceNorm2d(num_features)
    if kind == "none":
        return nn.Identity()
    if kind == "cbn":
        if condition_dim <= 0:
            raise ValueError("norm 'cbn' needs num_classes > 0 (a class embedding to condition on)")
        return ConditionalBatchNorm2d(num_features, condition_dim)
    raise ValueError(f"unknown norm {kind!r}; choose one of: {', '.join(NORM_KINDS)}")


def norm_needs_conv_bias(kind: NormKind) -> bool:
    """Convolutions before a norm that subtracts the mean and adds its own shift need no bias."""
    return kind in ("instance", "none")


def batch_norm_reference(x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """Training-mode batch norm with a per-sample affine, for tests and checks.

    Shape: x ``[N, C, H, W]``, gamma and beta ``[N, C]``.
    """
    normalized = F.batch_norm(x, None, None, training=True)
    return normalized * gamma[:, :, None, None] + beta[:, :, None, None]
