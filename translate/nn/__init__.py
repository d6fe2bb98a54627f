"""Building blocks shared by every network: normalisation (incl. class-conditional) and weight init."""

from translate.nn.init import InitKind, init_weights
from translate.nn.layers import InstanceNorm2d, ReflectionPad2d
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
    "InstanceNorm2d",
    "NormKind",
    "ReflectionPad2d",
    "init_weights",
    "make_norm",
    "norm_needs_conv_bias",
]
