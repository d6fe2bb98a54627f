"""Run a pipeline's network step in ONNX Runtime (``translate convert --backend onnxruntime``).

The checkpoint's network step is exported once with :func:`translate.export.export_pipeline`
(fp32, dynamic batch, height and width) into a cache keyed by the weights, the config, the
options fixed in the graph and the torch/onnx versions, then run by an ONNX Runtime session
on the CPU. Padding, tiling and what a pipeline does after its network (SR ``outscale``) stay
with the pipeline: :meth:`Pipeline.use_network_backend` swaps only the network step.

Every session is checked against the PyTorch networks on one small input before use; a cached
file that is damaged or no longer matches is exported again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from translate.export import INPUT_NAME, OUTPUT_NAME, ExportError, export_pipeline
from translate.imageio import file_sha256
from translate.infer import ConvertError
from translate.pipelines import Pipeline

#: Largest per-pixel difference from the PyTorch fp32 networks a session may show on the check input.
MATCH_TOLERANCE = 1e-3
_CACHE_FORMAT = 1


class OnnxRuntimeError(ConvertError):
    """ONNX Runtime cannot run this checkpoint (package missing, export failed); the message says why."""


def default_cache_dir() -> Path:
    """``$TRANSLATE_CACHE/onnx``, else ``$XDG_CACHE_HOME/translate/onnx``, else ``~/.cache/translate/onnx``."""
    if os.environ.get("TRANSLATE_CACHE"):
        return Path(os.environ["TRANSLATE_CACHE"]) / "onnx"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "translate" / "onnx"


def cache_key(pipeline: Pipeline, options: dict[str, Any]) -> str:
    """What decides the exported graph: weights, config, fixed options and the exporter's versions."""
    import onnx

    checkpoint = getattr(pipeline, "checkpoint_path", None)
    if checkpoint is None:
        raise OnnxRuntimeError("the ONNX Runtime backend needs a pipeline loaded from a checkpoint folder (load_pipeline)")
    checkpoint = Path(checkpoint)
    parts = {
        "format": _CACHE_FORMAT,
        "weights": file_sha256(checkpoint / "model.safetensors"),
        "config": file_sha256(checkpoint / "config.json"),
        "options": options,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


class OnnxRuntimeStep:
    """An ONNX Runtime session as a network step: ``[N, C, H, W]`` in [0, 1] → outputs in [0, 1].

    Args:
        path: an ``.onnx`` file written by :func:`translate.export.export_pipeline`.
        threads: intra-op threads (default: ``torch.get_num_threads()``, the same budget as PyTorch).
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, images: Tensor) -> Tensor:
        array = np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy())
        (output,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: array})
        return torch.from_numpy(output)


def _largest_difference(pipeline: Pipeline, step: OnnxRuntimeStep, options: dict[str, Any]) -> float:
    multiple = max(1, pipeline.size_multiple)
    side = multiple * max(1, -(-16 // multiple))
    images = torch.rand(1, pipeline.input_channels, side, 2 * side, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = pipeline.translate_batch(images, **options).float().clamp(0, 1)
    return float((step(images) - expected).abs().max())


def attach_onnx_runtime(
    pipeline: Pipeline,
    options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    say: Any = None,
) -> OnnxRuntimeStep:
    """Make ``pipeline`` run its network step in ONNX Runtime, exporting it to the cache if needed.

    Args:
        pipeline: loaded with ``load_pipeline(..., device="cpu", precision="fp32", channels_last=False)``.
        options: the pipeline options fixed in the graph (``direction``, ``class_name``); every
            later call must pass the same ones. Options applied after the network
            (:attr:`Pipeline.post_network_options`, e.g. ``outscale``) are left to each call.
        cache_dir: where exported graphs are kept (default: :func:`default_cache_dir`).
        threads: ONNX Runtime intra-op threads.
        say: prints one note line (the export); default: silent.

    Returns:
        The step now in use (its ``path`` is the cached graph).

    Raises:
        OnnxRuntimeError: onnxruntime/onnx missing, the network cannot be exported, or the session
            does not reproduce the PyTorch networks.
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise OnnxRuntimeError(
            f"--backend onnxruntime needs the onnxruntime, onnx and onnxscript packages ({error}); "
            "pip install onnxruntime onnx onnxscript"
        ) from None
    options = {name: value for name, value in (options or {}).items() if name not in pipeline.post_network_options}
    pipeline.use_network_backend(None)
    path = Path(cache_dir or default_cache_dir()) / f"{pipeline.name}-{cache_key(pipeline, options)}.onnx"
    step: OnnxRuntimeStep | None = None
    if path.exists():
        try:
            step = OnnxRuntimeStep(path, threads)
            if _largest_difference(pipeline, step, options) > MATCH_TOLERANCE:
                step = None
        except Exception:  # noqa: BLE001 -- a damaged cache file is exported again
            step = None
    if step is None:
        if say is not None:
            say(f"note: exporting the {pipeline.name} network to ONNX once, cached at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            export_pipeline(pipeline, path, "onnx", options)
        except ExportError as error:
            raise OnnxRuntimeError(f"cannot run {pipeline.name} in ONNX Runtime: {error}") from error
        step = OnnxRuntimeStep(path, threads)
        difference = _largest_difference(pipeline, step, options)
        if difference > MATCH_TOLERANCE:
            raise OnnxRuntimeError(
                f"ONNX Runtime's {pipeline.name} network differs from PyTorch's by {difference:.2g} per pixel "
                f"(tolerance {MATCH_TOLERANCE}); use --backend torch"
            )
    pipeline.use_network_backend(step, options)
    return step
