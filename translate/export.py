"""Export a checkpoint's network for other runtimes: ONNX (ONNX Runtime, TensorRT...) or pt2.

What is exported is the pipeline's network step, :meth:`Pipeline.translate_batch` with fixed
options, in fp32: images ``[N, C, H, W]`` in [0, 1] → ``[N, C_out, H * scale, W * scale]`` in
[0, 1], with the batch, height and width dynamic. Height and width must be multiples of the
network's ``size_multiple`` (recorded in the file); padding other sizes to it, tiling and
resizing after the network (SR ``outscale``) stay with the caller, as in :mod:`translate.tiling`.

``onnx`` goes through torch's exporter (needs the ``onnx`` and ``onnxscript`` packages); ``pt2``
is :func:`torch.export.save` of the same program, loaded back with :func:`torch.export.load`.
Every export is checked against the pipeline on an example before it is written, and written
atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from translate.checkpoint import load_pipeline
from translate.imageio import atomic_write
from translate.infer import check_pipeline_options
from translate.pipelines import Pipeline

ExportFormat = Literal["onnx", "pt2"]
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "pt2")
INPUT_NAME = "images"
OUTPUT_NAME = "outputs"
# The largest batch and the largest side, in multiples of size_multiple, the graph accepts.
_MAX_BATCH = 4096
_MAX_BLOCKS = 4096


class ExportError(ValueError):
    """A checkpoint cannot be exported as asked (format, options, missing package); the message says why."""


class TranslateModule(nn.Module):
    """A pipeline's network step as a plain module: what is exported.

    Args:
        pipeline: a loaded pipeline, in fp32.
        options: the pipeline's inference options, fixed in the graph (``direction``, ``class_name``).

    Shape:
        images: ``[N, C, H, W]`` in [0, 1], H and W multiples of ``pipeline.size_multiple``;
        output: ``[N, output_channels, H * scale, W * scale]`` in [0, 1].
    """

    def __init__(self, pipeline: Pipeline, options: dict[str, Any]) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.options = dict(options)

    def forward(self, images: Tensor) -> Tensor:
        return self.pipeline.translate_batch(images, **self.options).float().clamp(0, 1)


def export_metadata(pipeline: Pipeline, options: dict[str, Any]) -> dict[str, str]:
    """String key/values stored in the exported file: what a caller must know to feed it."""
    return {
        "translate.pipeline": pipeline.name,
        "translate.checkpoint": str(getattr(pipeline, "checkpoint_path", "")),
        "translate.options": json.dumps(options, sort_keys=True),
        "translate.input_channels": str(pipeline.input_channels),
        "translate.output_channels": str(pipeline.output_channels),
        "translate.size_multiple": str(pipeline.size_multiple),
        "translate.min_side": str(pipeline.min_side),
        "translate.scale": str(pipeline.scale),
        "translate.value_range": "[0, 1]",
        "translate.layout": "NCHW",
    }


def _exported_program(pipeline: Pipeline, options: dict[str, Any]) -> torch.export.ExportedProgram:
    """Trace the network step with dynamic batch, height and width (multiples of size_multiple)."""
    from torch.export import Dim

    multiple = max(1, pipeline.size_multiple)
    if multiple == 1:
        height: Any = Dim("height", min=max(2, pipeline.min_side), max=_MAX_BLOCKS)
        width: Any = Dim("width", min=max(2, pipeline.min_side), max=_MAX_BLOCKS)
    else:
        # Derived dims keep the multiple in the graph: any H = multiple * k (at least min_side) is accepted.
        fewest = math.ceil(pipeline.min_side / multiple)
        height = multiple * Dim("height_blocks", min=fewest, max=_MAX_BLOCKS)
        width = multiple * Dim("width_blocks", min=fewest, max=_MAX_BLOCKS)
    dynamic_shapes = {"images": {0: Dim("batch", min=1, max=_MAX_BATCH), 2: height, 3: width}}
    # Sides of at least 8 pixels and min_side, so every layer has room (a ResNet's reflection
    # padding after two downsamplings), and a batch of 2: sizes 0 and 1 would be specialised by the tracer.
    side = multiple * math.ceil(max(8, pipeline.min_side) / multiple)
    example = torch.rand(2, pipeline.input_channels, 2 * side, 2 * side, generator=torch.Generator().manual_seed(0))
    module = TranslateModule(pipeline, options).eval()
    try:
        # Size-oblivious tracing: otherwise the tracer assumes no size is 1 and the graph refuses
        # the smallest inputs (H = size_multiple gives a 1×1 U-Net bottleneck).
        with torch.fx.experimental._config.patch(backed_size_oblivious=True), torch.no_grad():
            program = torch.export.export(module, (example,), dynamic_shapes=dynamic_shapes)
    except Exception as error:  # noqa: BLE001 -- torch raises many kinds; the user needs the reason
        raise ExportError(f"torch.export could not trace {pipeline.name}'s network: {error}") from error
    # The graph must compute what the pipeline computes, also at a size it was not traced at.
    check = torch.rand(1, pipeline.input_channels, 3 * side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = pipeline(check, **options)
        found = program.module()(check)
    if found.shape != expected.shape or not torch.allclose(found, expected, atol=1e-4):
        raise ExportError(
            f"the exported graph of {pipeline.name} does not reproduce the pipeline (an option such as "
            f"{', '.join(sorted(options)) or 'none'} may act outside the network step); not written"
        )
    return program


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    export_format: ExportFormat,
    options: dict[str, Any] | None = None,
    opset: int | None = None,
) -> Path:
    """Export a checkpoint's network step to ``out``.

    Args:
        checkpoint: checkpoint folder or shipped name.
        out: the file to write (``.onnx`` or ``.pt2`` by convention); written atomically.
        export_format: ``onnx`` or ``pt2``.
        options: the pipeline's inference options, fixed in the graph.
        opset: ONNX opset version (default: the exporter's).

    Returns:
        ``out`` as a Path.

    Raises:
        ExportError: unknown format, missing ``onnx``/``onnxscript``, untraceable network.
        translate.infer.ConvertError: the pipeline refused the options.
        translate.checkpoint.CheckpointError: no such checkpoint, or a damaged one.
    """
    if export_format not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {export_format!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    pipeline = load_pipeline(checkpoint, device="cpu", precision="fp32", channels_last=False)
    return export_pipeline(pipeline, out, export_format, options, opset)


def export_pipeline(
    pipeline: Pipeline,
    out: str | os.PathLike,
    export_format: ExportFormat,
    options: dict[str, Any] | None = None,
    opset: int | None = None,
) -> Path:
    """Export a loaded pipeline's network step to ``out``; see :func:`export_checkpoint`.

    ``pipeline`` must be on the CPU in fp32 with the contiguous memory format (what
    ``load_pipeline(..., precision="fp32", channels_last=False)`` gives).
    """
    if export_format not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {export_format!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    if pipeline.device.type != "cpu" or pipeline.precision != "fp32" or pipeline.channels_last:
        raise ExportError(
            f"export needs the pipeline on the CPU in fp32, contiguous; it is on {pipeline.device}, "
            f"{pipeline.precision}{', channels_last' if pipeline.channels_last else ''}"
        )
    options = dict(options or {})
    check_pipeline_options(pipeline, options)
    after = sorted(set(options) & set(pipeline.post_network_options))
    if after:
        raise ExportError(
            f"{', '.join(after)} is applied after {pipeline.name}'s network and is not part of an exported graph; "
            "export without it and resize the outputs yourself"
        )
    program = _exported_program(pipeline, options)
    out = Path(out)
    metadata = export_metadata(pipeline, options)
    if export_format == "pt2":
        with atomic_write(out) as temporary:
            torch.export.save(program, temporary, extra_files={"translate.json": json.dumps(metadata)})
        return out
    try:
        import onnx  # noqa: F401 -- the exporter needs both; a clear message beats its ImportError
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ExportError(f"ONNX export needs the onnx and onnxscript packages ({error}); pip install onnx onnxscript") from None
    try:
        onnx_program = torch.onnx.export(
            program,
            f=None,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    except Exception as error:  # noqa: BLE001
        raise ExportError(f"the ONNX exporter failed on {pipeline.name}'s network: {error}") from error
    assert onnx_program is not None
    onnx_program.model.metadata_props.update(metadata)
    with atomic_write(out) as temporary:
        onnx_program.save(temporary, external_data=False)
    return out
