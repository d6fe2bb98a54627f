"""Checkpoints are folders that describe themselves: ``config.json`` + ``model.safetensors``.

``config.json`` names the pipeline and holds its full config, the channels and preprocessing,
and what the model was trained on; ``model.safetensors`` holds the inference weights. Loading
never unpickles anything: JSON and safetensors only.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from translate.config import ConfigError, from_dict, to_dict
from translate.imageio import atomic_folder, commit_folder
from translate.pipelines import Pipeline, get_pipeline_class
from translate.runtime import resolve_device, resolve_precision

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
SHIPPED_DIR_ENV = "TRANSLATE_CHECKPOINTS"


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged or of the wrong kind; the message says which file and why."""


def module_weights(modules: dict[str, nn.Module]) -> dict[str, Tensor]:
    """Flatten ``{"generator": G, ...}`` into ``{"generator.layer.weight": tensor, ...}``."""
    weights = {}
    for prefix, module in modules.items():
        for key, value in module.state_dict().items():
            weights[f"{prefix}.{key}"] = value.detach()
    return weights


def load_module_weights(modules: dict[str, nn.Module], weights: dict[str, Tensor], source: Path) -> None:
    """Load flattened weights into modules, strictly; errors name ``source`` and the keys."""
    for prefix, module in modules.items():
        own = {k[len(prefix) + 1 :]: v for k, v in weights.items() if k.startswith(prefix + ".")}
        expected = module.state_dict()
        missing = sorted(set(expected) - set(own))
        unexpected = sorted(set(own) - set(expected))
        if missing or unexpected:
            detail = f"missing {prefix}.{missing[0]}" if missing else f"unexpected {prefix}.{unexpected[0]}"
            raise CheckpointError(
                f"{source}: weights do not fit the network described in config.json ({detail}; "
                f"{len(missing)} missing, {len(unexpected)} unexpected)"
            )
        for key, value in own.items():
            if value.shape != expected[key].shape:
                raise CheckpointError(
                    f"{source}: {prefix}.{key} has shape {tuple(value.shape)}, "
                    f"the network needs {tuple(expected[key].shape)}"
                )
        module.load_state_dict({k: v.to(expected[k].dtype) for k, v in own.items()})
    extra = sorted(k for k in weights if k.split(".", 1)[0] not in modules)
    if extra:
        raise CheckpointError(f"{source}: unexpected weights for {extra[0].split('.', 1)[0]!r}")


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint's config.json, parsed and checked."""

    path: Path
    pipeline: str
    config: Any
    metadata: dict[str, Any]
    raw: dict[str, Any]

    @property
    def below_bar(self) -> list[str]:
        """The misses of the project's shipping bar this checkpoint was shipped with, one line each
        (``scripts/ship_checkpoint.py --below-bar``); empty for one that meets its whole bar."""
        return list(self.raw.get("shipped", {}).get("below_bar", []))


def save_checkpoint(
    pipeline: Pipeline,
    folder: str | os.PathLike,
    weights: dict[str, Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
    extra: dict[str, Any] | None = None,
    extra_files: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder atomically: readers see the old folder or the new one, never half.

    Args:
        pipeline: the pipeline whose config and inference weights are saved.
        folder: destination folder.
        weights: flattened inference weights to save instead of the pipeline's own (e.g. EMA).
        dtype: floating-point storage type (``torch.float16`` halves shipped files).
        extra: more top-level entries for config.json (``training``, ``description``...).
        extra_files: ``{file name: callable(path)}`` writing more files into the folder before
            it is committed (training state for resume).
    """
    folder = Path(folder)
    weights = weights if weights is not None else module_weights(pipeline.inference_modules())
    stored = {
        key: (value.to(dtype) if value.is_floating_point() else value).contiguous().cpu()
        for key, value in weights.items()
    }
    document = {
        "format_version": FORMAT_VERSION,
        "pipeline": pipeline.name,
        "config": to_dict(pipeline.config),
        "metadata": pipeline.checkpoint_metadata(),
        "weights": {"file": WEIGHTS_FILE, "dtype": str(dtype).removeprefix("torch.")},
    } | (extra or {})
    temporary = atomic_folder(folder)
    try:
        save_file(stored, str(temporary / WEIGHTS_FILE), metadata={"pipeline": pipeline.name})
        (temporary / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        for name, writer in (extra_files or {}).items():
            writer(temporary / name)
        commit_folder(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return folder


def shipped_checkpoint_dirs() -> list[Path]:
    """Where shipped checkpoints are looked up, in order."""
    dirs = []
    if os.environ.get(SHIPPED_DIR_ENV):
        dirs.append(Path(os.environ[SHIPPED_DIR_ENV]))
    package = Path(__file__).resolve().parent
    dirs.append(package / "_shipped")  # installed wheels carry checkpoints/ here
    dirs.append(package.parent / "checkpoints")  # a source checkout
    return [d for d in dirs if d.is_dir()]


def shipped_checkpoints() -> dict[str, Path]:
    """Shipped checkpoint names → folders (the first location wins for a name)."""
    found: dict[str, Path] = {}
    for directory in shipped_checkpoint_dirs():
        for child in sorted(directory.iterdir()):
            if (child / CONFIG_FILE).is_file() and child.name not in found:
                found[child.name] = child
    return found


def resolve_checkpoint(spec: str | os.PathLike) -> Path:
    """A checkpoint folder from a path or a shipped checkpoint's name.

    Raises:
        CheckpointError: neither a folder nor a shipped name; lists the shipped names.
    """
    path = Path(spec)
    if path.is_dir():
        return path
    if path.is_file() and path.name == CONFIG_FILE:
        return path.parent
    shipped = shipped_checkpoints()
    if str(spec) in shipped:
        return shipped[str(spec)]
    names = ", ".join(sorted(shipped)) or "none installed"
    raise CheckpointError(f"{spec}: no such checkpoint folder or shipped checkpoint; shipped: {names}")


def read_checkpoint(spec: str | os.PathLike) -> CheckpointInfo:
    """Read and check a checkpoint's config.json (no weights loaded)."""
    folder = resolve_checkpoint(spec)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{folder}: not a checkpoint (no {CONFIG_FILE})")
    try:
        document = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{config_path}: damaged ({error})") from None
    if not isinstance(document, dict):
        raise CheckpointError(f"{config_path}: damaged (not a JSON object)")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: format_version {version!r}; this version of translate reads {FORMAT_VERSION}"
        )
    name = document.get("pipeline")
    try:
        cls = get_pipeline_class(str(name))
        config = from_dict(cls.config_class, document.get("config", {}), where=f"{config_path}: config")
    except (ValueError, ConfigError) as error:
        raise CheckpointError(f"{config_path}: {error}") from None
    return CheckpointInfo(folder, str(name), config, document.get("metadata", {}), document)


def read_weights(folder: Path) -> dict[str, Tensor]:
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {WEIGHTS_FILE}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged weights file ({error})") from None


def load_pipeline(
    spec: str | os.PathLike,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    channels_last: bool | None = None,
) -> Pipeline:
    """Load a checkpoint folder (or a shipped checkpoint by name) as a callable pipeline.

    Args:
        spec: folder path or shipped name (see ``translate checkpoints``).
        device: ``cpu``, ``cuda``, ``auto``...
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (fastest the hardware supports).
        channels_last: memory format; default on for CPU bf16 where it is faster.

    Returns:
        The pipeline in inference mode: ``pipeline(images)`` with images ``[N, C, H, W]`` in [0, 1].

    Example:
        >>> pipe = load_pipeline("checkpoints/edges2emoji-pix2pix")
        >>> out = pipe(torch.rand(1, 3, 64, 64))
    """
    info = read_checkpoint(spec)
    pipeline = get_pipeline_class(info.pipeline)(info.config)
    load_module_weights(pipeline.inference_modules(), read_weights(info.path), info.path / WEIGHTS_FILE)
    pipeline.metadata = info.metadata  # type: ignore[attr-defined]
    pipeline.checkpoint_path = info.path  # type: ignore[attr-defined]
    device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    resolved = resolve_precision(precision, device)
    if channels_last is None:
        channels_last = resolved != "fp32"
    pipeline.configure_runtime(device, resolved, channels_last)
    pipeline.eval()
    return pipeline
