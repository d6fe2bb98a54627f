"""Turn weights from other projects into checkpoint folders: ``translate import --from SOURCE``.

Sources:
    - ``cyclegan-pix2pix``: a generator saved by pytorch-CycleGAN-and-pix2pix (``latest_net_G.pth``,
      ``latest_net_G_A.pth``): its ResNet (``model.N...``, ``model.N.conv_block.M...``) or U-Net
      (``model.model.1.model.3...``) layout becomes a ``pix2pix`` checkpoint with the matching
      generator.
    - ``esrgan``: an RRDB generator from ESRGAN or Real-ESRGAN, in any of their three key layouts
      (Real-ESRGAN/BasicSR ``body.N.rdbM``, possibly under ``params_ema``; ESRGAN's
      ``RRDB_trunk.N.RDBM``; the first ESRGAN release's ``model.1.sub.N.RDBM``), becomes an
      ``srgan`` checkpoint with ``generator.kind=rrdb``.

The architecture (channels, widths, depth, norm, scale) is read from the tensors' names and
shapes; ``overrides`` (``--set KEY=VALUE``) change the rest of the config. Files are read with
``torch.load(weights_only=True)`` (or safetensors), so a malicious pickle cannot run code.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from translate.checkpoint import load_module_weights, module_weights, save_checkpoint
from translate.config import apply_overrides
from translate.pipelines import Pipeline, get_pipeline_class

_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")

# Given our network's state dict (prefixed keys), their key → our key.
KeyMapping = Callable[[dict[str, Tensor]], dict[str, str]]


@dataclass(frozen=True)
class ForeignWeights:
    """What an importer reads from a file: the pipeline it becomes, the config overrides the
    tensors determine, how their keys map onto ours, and the tensors."""

    pipeline: str
    overrides: list[str]
    mapping: KeyMapping
    state: dict[str, Tensor]


class ImportWeightsError(ValueError):
    """A weights file cannot be imported; the message names the file and the problem."""


# ---------------------------------------------------------------------------------- reading
def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A flat ``{name: tensor}`` from a ``.pth``/``.pt`` (tensors only) or ``.safetensors`` file.

    Wrappers other projects save around the weights are unwrapped: ``params_ema`` (preferred)
    or ``params`` (BasicSR), ``state_dict``, and a ``module.`` prefix (DataParallel).

    Raises:
        ImportWeightsError: missing file, not a weights file, or objects other than tensors.
    """
    if not path.is_file():
        raise ImportWeightsError(f"{path}: no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path))
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ImportWeightsError(
            f"{path}: refused: the file holds objects other than tensors and plain containers, and "
            f"loading them could run code (weights_only=True): {str(error).splitlines()[0]}"
        ) from None
    except Exception as error:  # noqa: BLE001 -- zip, EOF, safetensors header errors...
        raise ImportWeightsError(f"{path}: not a readable weights file ({error})") from None
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise ImportWeightsError(f"{path}: expected a dictionary of tensors (a state dict)")
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def _drop_stale_norm_stats(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Remove running statistics of layers without weights: instance norms saved by PyTorch < 0.4."""
    layers_with_weight = {key.rsplit(".", 1)[0] for key in state if key.endswith(".weight")}
    return {
        key: value
        for key, value in state.items()
        if not (key.rsplit(".", 1)[-1] in _RUNNING_STATS and key.rsplit(".", 1)[0] not in layers_with_weight)
    }


def _fit(source: Path, own: dict[str, Tensor], theirs: dict[str, Tensor], mapping: dict[str, str]) -> dict[str, Tensor]:
    """Our state dict from theirs through ``mapping`` (their key → our key).

    Two differences that change no output are bridged: a bias we have and they lack (a
    convolution before batch norm) is zero, and a 3×3 transposed convolution (stride 2, padding
    1, output padding 1) becomes our 4×4 one by zero-padding its kernel on the far side, which
    gives the same sums at every output pixel.
    """
    unexpected = sorted(set(theirs) - set(mapping))
    if unexpected:
        raise ImportWeightsError(f"{source}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} not understood)")
    converted: dict[str, Tensor] = {}
    for their_key, our_key in mapping.items():
        if our_key not in own:
            raise ImportWeightsError(f"{source}: {their_key!r} has no counterpart ({our_key!r}) in the network")
        value, expected = theirs[their_key], own[our_key]
        if value.shape != expected.shape:
            transposed_3x3 = value.dim() == 4 and value.shape[:2] == expected.shape[:2] and value.shape[2:] == (3, 3)
            if transposed_3x3 and expected.shape[2:] == (4, 4):
                value = F.pad(value, (0, 1, 0, 1))
            else:
                raise ImportWeightsError(
                    f"{source}: {their_key!r} has shape {tuple(value.shape)}, the network needs "
                    f"{tuple(expected.shape)} at {our_key!r} (an --set option contradicts the file?)"
                )
        converted[our_key] = value
    for key, value in own.items():
        if key not in converted:
            if key.endswith(".bias"):
                converted[key] = torch.zeros_like(value)
            else:
                raise ImportWeightsError(f"{source}: no tensor for {key!r} of the network")
    return converted


def _with_norm(own: dict[str, Tensor], path: str, param: str) -> str:
    """Our key for ``param`` of the layer at ``path``: norms sit one level deeper, in a wrapper."""
    direct = f"{path}.{param}"
    return direct if direct in own else f"{path}.norm.{param}"


# ---------------------------------------------------------------------------------- cyclegan-pix2pix
_RESNET_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.(\w+)$")
_RESNET_LAYER = re.compile(r"^model\.(\d+)\.(\w+)$")


def _cyclegan_norm(state: dict[str, Tensor], conv_key: str, norm_key: str) -> str:
    """Their norm from what the first normalised layer saved: batch norm has weights, instance
    norm has none but its convolutions carry biases, no norm has neither."""
    if norm_key in state:
        return "batch"
    return "instance" if conv_key.replace(".weight", ".bias") in state else "none"


def _cyclegan_resnet(state: dict[str, Tensor]) -> ForeignWeights:
    first = state["model.1.weight"]
    blocks = sorted({int(m.group(1)) for key in state if (m := _RESNET_BLOCK.match(key))})
    last = max(int(m.group(1)) for key in state if (m := _RESNET_LAYER.match(key)))
    # With dropout their block is pad, conv, norm, relu, dropout, pad, conv, norm: conv 2 at 6.
    second_conv = state.get(f"model.{blocks[0]}.conv_block.6.weight") if blocks else None
    dropout = second_conv is not None and second_conv.dim() == 4
    overrides = [
        "generator.kind=resnet",
        f"generator.ngf={first.shape[0]}",
        f"generator.n_blocks={len(blocks)}",
        f"generator.norm={_cyclegan_norm(state, 'model.1.weight', 'model.2.weight')}",
        f"generator.dropout={0.5 if dropout else 0.0}",
        "generator.upsample=transpose",
        f"data.input_channels={first.shape[1]}",
        f"data.output_channels={state[f'model.{last}.weight'].shape[0]}",
        "data.image_size=256",
    ]

    def mapping(own: dict[str, Tensor]) -> dict[str, str]:
        result = {}
        for key in state:
            if block := _RESNET_BLOCK.match(key):
                index, position, param = int(block.group(1)), int(block.group(2)), block.group(3)
                # Our block always has a dropout slot (Identity without dropout) at 4.
                ours = position if dropout or position < 4 else position + 1
                result[key] = _with_norm(own, f"generator.body.{index}.body.{ours}", param)
            elif layer := _RESNET_LAYER.match(key):
                result[key] = _with_norm(own, f"generator.body.{layer.group(1)}", layer.group(2))
        return result

    return ForeignWeights("pix2pix", overrides, mapping, state)


def _unet_prefixes(state: dict[str, Tensor]) -> list[str]:
    """Key prefix of each U-Net level, outermost first: the blocks nest as submodules."""
    prefixes = ["model.model.", "model.model.1.model."]
    while any(key.startswith(prefixes[-1] + "3.model.") for key in state):
        prefixes.append(prefixes[-1] + "3.model.")
    return prefixes


def _cyclegan_unet(state: dict[str, Tensor]) -> ForeignWeights:
    prefixes = _unet_prefixes(state)
    depth = len(prefixes)
    # Their blocks return cat([skip, up]), ours cat([up, skip]): every up convolution fed by a
    # concatenation (all but the innermost) gets the two halves of its input channels swapped
    # (a transposed convolution's weight is [in, out, k, k]).
    state = dict(state)
    for key in [prefixes[0] + "3.weight"] + [prefix + "5.weight" for prefix in prefixes[1:-1]]:
        skip, up = state[key].chunk(2, dim=0)
        state[key] = torch.cat([up, skip], dim=0)
    first = state["model.model.0.weight"]
    inner = prefixes[1]
    overrides = [
        "generator.kind=unet",
        f"generator.ngf={first.shape[0]}",
        f"generator.num_downs={depth}",
        f"generator.norm={_cyclegan_norm(state, inner + '1.weight', inner + '2.weight')}",
        "generator.upsample=transpose",
        f"data.input_channels={first.shape[1]}",
        # A transposed convolution's weight is [in, out, k, k].
        f"data.output_channels={state['model.model.3.weight'].shape[1]}",
        f"data.image_size={2**depth}",
    ]

    def mapping(own: dict[str, Tensor]) -> dict[str, str]:
        # Their layer position in each level's Sequential → our module path.
        places: dict[str, str] = {prefixes[0] + "0": "downs.0.conv", prefixes[0] + "3": "outermost_up.1"}
        for level in range(1, depth):
            up = f"ups.{depth - 1 - level}"
            if level == depth - 1:  # innermost: relu, down conv, relu, up conv, up norm
                positions = {1: f"downs.{level}.conv", 3: f"{up}.up", 4: f"{up}.norm"}
            else:  # relu, down conv, down norm, submodule, relu, up conv, up norm (, dropout)
                positions = {1: f"downs.{level}.conv", 2: f"downs.{level}.norm", 5: f"{up}.up", 6: f"{up}.norm"}
            places |= {prefixes[level] + str(position): path for position, path in positions.items()}
        result = {}
        for key in state:
            layer, param = key.rsplit(".", 1)
            if layer in places:
                result[key] = _with_norm(own, f"generator.{places[layer]}", param)
        return result

    return ForeignWeights("pix2pix", overrides, mapping, state)


def import_cyclegan_pix2pix(path: Path) -> ForeignWeights:
    """What a pytorch-CycleGAN-and-pix2pix generator file holds, as a pix2pix generator."""
    state = _drop_stale_norm_stats(read_state_dict(path))
    if "model.model.0.weight" in state:
        return _cyclegan_unet(state)
    if "model.1.weight" in state and any(_RESNET_BLOCK.match(key) for key in state):
        return _cyclegan_resnet(state)
    sample = ", ".join(sorted(state)[:3])
    raise ImportWeightsError(f"{path}: not a pytorch-CycleGAN-and-pix2pix ResNet or U-Net generator (keys start {sample}...)")


# ---------------------------------------------------------------------------------- esrgan
# ESRGAN's 2019 layout and its first release's, renamed to Real-ESRGAN/BasicSR's (our RRDBGenerator's).
_ESRGAN_RENAMES = [
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(\w+)$"), r"body.\1.rdb\2.conv\3.\4"),
    (re.compile(r"^trunk_conv\.(\w+)$"), r"conv_body.\1"),
    (re.compile(r"^upconv([12])\.(\w+)$"), r"conv_up\1.\2"),
    (re.compile(r"^HRconv\.(\w+)$"), r"conv_hr.\1"),
    (re.compile(r"^model\.0\.(\w+)$"), r"conv_first.\1"),
    (re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(\w+)$"), r"body.\1.rdb\2.conv\3.\4"),
    # The first release's trunk convolution (after the last RRDB) is model.1.sub.<blocks>.
    (re.compile(r"^model\.1\.sub\.\d+\.(weight|bias)$"), r"conv_body.\1"),
    (re.compile(r"^model\.3\.(\w+)$"), r"conv_up1.\1"),
    (re.compile(r"^model\.6\.(\w+)$"), r"conv_up2.\1"),
    (re.compile(r"^model\.8\.(\w+)$"), r"conv_hr.\1"),
    (re.compile(r"^model\.10\.(\w+)$"), r"conv_last.\1"),
]
def _esrgan_name(key: str) -> str:
    for pattern, replacement in _ESRGAN_RENAMES:
        if pattern.match(key):
            return pattern.sub(replacement, key)
    return key


def import_esrgan(path: Path) -> ForeignWeights:
    """What an ESRGAN / Real-ESRGAN RRDB generator file holds, as an srgan RRDB generator."""
    state = read_state_dict(path)
    renamed = {_esrgan_name(key): key for key in state}
    blocks = {int(m.group(1)) for key in renamed if (m := re.match(r"^body\.(\d+)\.", key))}
    if "conv_first.weight" not in renamed or "conv_last.weight" not in renamed or not blocks:
        sample = ", ".join(sorted(state)[:3])
        raise ImportWeightsError(f"{path}: not an ESRGAN/Real-ESRGAN RRDB generator (keys start {sample}...)")
    first, last = state[renamed["conv_first.weight"]], state[renamed["conv_last.weight"]]
    channels = last.shape[0]
    # Real-ESRGAN's ×2 folds 2×2 pixels into channels before the ×4 trunk.
    if first.shape[1] == channels:
        scale = 4
    elif first.shape[1] == 4 * channels:
        scale = 2
    else:
        raise ImportWeightsError(
            f"{path}: conv_first takes {first.shape[1]} channels for {channels}-channel images; expected "
            f"{channels} (×4) or {4 * channels} (×2)"
        )
    overrides = [
        f"scale={scale}",
        "generator.kind=rrdb",
        f"generator.num_features={first.shape[0]}",
        f"generator.num_blocks={len(blocks)}",
        f"generator.growth={state[renamed['body.0.rdb1.conv1.weight']].shape[0]}",
        f"data.channels={channels}",
        f"data.image_size={32 * scale}",
    ]

    def mapping(own: dict[str, Tensor]) -> dict[str, str]:
        return {original: f"generator.{ours}" for ours, original in renamed.items()}

    return ForeignWeights("srgan", overrides, mapping, state)


# ---------------------------------------------------------------------------------- entry point
IMPORTERS: dict[str, Callable[[Path], ForeignWeights]] = {
    "cyclegan-pix2pix": import_cyclegan_pix2pix,
    "esrgan": import_esrgan,
}


def import_weights(
    source_kind: str,
    path: str | os.PathLike,
    out: str | os.PathLike,
    overrides: list[str] | None = None,
    description: str | None = None,
    overwrite: bool = False,
) -> Pipeline:
    """Convert another project's generator weights into a checkpoint folder at ``out``.

    Args:
        source_kind: ``cyclegan-pix2pix`` or ``esrgan``.
        path: the weights file.
        out: the checkpoint folder to write (atomically).
        overrides: ``KEY=VALUE`` config changes applied after what the file determines
            (``data.image_size=512``, ``direction=BtoA``...).
        description: one line kept in config.json.
        overwrite: replace an existing ``out``.

    Returns:
        The pipeline with the imported weights (inference weights only; nothing to resume).

    Raises:
        ImportWeightsError: unknown source kind, unreadable or unrecognised file, shapes that do not fit.
        translate.config.ConfigError: a bad override.
    """
    if source_kind not in IMPORTERS:
        raise ImportWeightsError(f"unknown source {source_kind!r}; choose one of: {', '.join(IMPORTERS)}")
    path, out = Path(path), Path(out)
    if out.exists() and not overwrite:
        raise ImportWeightsError(f"{out} already exists; choose another --out or pass --overwrite")
    found = IMPORTERS[source_kind](path)
    cls = get_pipeline_class(found.pipeline)
    pipeline = cls(apply_overrides(cls.config_class(), found.overrides + list(overrides or [])))
    modules: dict[str, nn.Module] = pipeline.inference_modules()
    own = module_weights(modules)
    weights = _fit(path, own, found.state, found.mapping(own))
    load_module_weights(modules, weights, path)
    pipeline.eval()
    extra: dict[str, Any] = {"imported_from": {"kind": source_kind, "file": path.name}}
    if description:
        extra["description"] = description
    save_checkpoint(pipeline, out, extra=extra)
    return pipeline
