"""Weight initialisation shared by every network."""

from __future__ import annotations

from typing import Literal

from torch import nn

from translate.nn.norm import ConditionalBatchNorm2d

InitKind = Literal["normal", "xavier", "kaiming", "orthogonal"]
INIT_KINDS: tuple[str, ...] = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(network: nn.Module, kind: InitKind = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise convolution and linear weights in place; returns ``network``.

    Args:
        network: any module tree.
        kind: ``normal`` N(0, gain) as in pix2pix/CycleGAN, ``xavier`` (normal, this gain),
            ``kaiming`` (fan-in, for ReLU) or ``orthogonal`` (this gain).
        gain: standard deviation or gain as above.

    Biases start at zero; affine batch norm scales start at N(1, gain). Class-conditional batch
    norm projections are left at zero, so every class starts from a plain batch norm.
    """
    if kind not in INIT_KINDS:
        raise ValueError(f"unknown init {kind!r}; choose one of: {', '.join(INIT_KINDS)}")

    def visit(module: nn.Module) -> None:
        # nn.Module.apply visits children before parents, so this reset wins over the
        # generic Linear init of the projections inside the conditional norm.
        if isinstance(module, ConditionalBatchNorm2d):
            module.reset_parameters()
            return
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # Under spectral norm the trainable tensor is parametrizations.weight.original.
            parametrizations = getattr(module, "parametrizations", None)
            weight = parametrizations.weight.original if parametrizations is not None else module.weight
            if kind == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d) and module.affine:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)

    network.apply(visit)
    return network
