"""Building blocks shared by every network: normalisation (incl. class-conditional) and weight init."""

from translate.nn.init import InitKind, init_weights
from translate.nn.norm import (
    ClassEmbedding,
    ConditionalBatchNorm2d,
    ConditionalModule,
    ConditionalSequential,
    NormKind,
    make_norm,
    norm_needs_conv_bias,
)

__all__ = [
    "ClassEmbedding",
    "ConditionalBatchNorm2d",
    "ConditionalModule",
    "ConditionalSequential",
    "InitKind",
    "NormKind",
    "init_weights",
    "make_norm",
    "norm_needs_conv_bias",
]
