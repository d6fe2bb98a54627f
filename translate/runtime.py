"""Where and how networks run: device, numeric precision (detected, never assumed), memory format."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16"]
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
MemoryFormat = Literal["auto", "channels_last", "contiguous"]


def resolve_device(name: str | None = "auto") -> torch.device:
    """``auto`` picks the first CUDA device when there is one, else the CPU."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available here")
    return device


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 matrix kernels run natively (CPU with AVX-512-BF16/AMX, or a recent GPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checker = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        try:
            return bool(checker()) if checker is not None else False
        except RuntimeError:
            return False
    return False


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """Turn ``auto`` into the fastest precision this hardware supports; check explicit requests."""
    if requested not in PRECISION_CHOICES:
        raise ValueError(f"unknown precision {requested!r}; choose one of: {', '.join(PRECISION_CHOICES)}")
    if requested == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    if requested == "bf16" and not bf16_supported(device):
        raise ValueError(f"bf16 was requested but {device} has no native bf16 support; use fp32")
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("fp16 autocast is for GPUs; on the CPU use bf16 or fp32")
    return requested  # type: ignore[return-value]


def candidate_precisions(requested: str, device: torch.device) -> list[Precision]:
    """The precisions a training run may use: ``auto`` = every one the hardware runs natively.

    Which of them is fastest depends on the network and the image size, so the trainer times
    them (see :meth:`translate.train.Trainer.setup`); an explicit request is checked and kept.
    """
    if requested == "fp16":
        # fp16 gradients underflow without loss scaling, which the pipelines do not do.
        raise ValueError("fp16 training is not supported (no loss scaling); use bf16 or fp32")
    if requested == "auto":
        return ["bf16", "fp32"] if bf16_supported(device) else ["fp32"]
    return [resolve_precision(requested, device)]


@contextlib.contextmanager
def autocast(device: torch.device, precision: Precision) -> Iterator[None]:
    """Mixed precision for the forward passes; fp32 is a no-op. Weights stay fp32 (master copy)."""
    if precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
