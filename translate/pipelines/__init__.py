"""The pipeline registry: one line per pipeline, imported only when asked for."""

from __future__ import annotations

import importlib

from translate.pipelines.base import Pipeline

# name -> "module:Class". Adding a pipeline = its file + one line here.
_REGISTRY: dict[str, str] = {
    "cbn": "translate.pipelines.cbn:ClassConditional",
    "cyclegan": "translate.pipelines.cyclegan:CycleGAN",
    "pix2pix": "translate.pipelines.pix2pix:Pix2Pix",
    "srgan": "translate.pipelines.srgan:SRGAN",
}


def pipeline_names() -> list[str]:
    return sorted(_REGISTRY)


def get_pipeline_class(name: str) -> type[Pipeline]:
    """The pipeline class registered as ``name``.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown pipeline {name!r}; choose one of: {', '.join(pipeline_names())}")
    module_name, class_name = _REGISTRY[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if cls.name != name:
        raise RuntimeError(f"registry says {name!r} but {cls.__name__}.name is {cls.name!r}")
    return cls


__all__ = ["Pipeline", "get_pipeline_class", "pipeline_names"]
