"""torchvision's pretrained weights files, found where torchvision keeps them, checked and read safely.

The frozen backbones of the perceptual losses (:mod:`translate.perceptual`) and of LPIPS
(:mod:`translate.metrics`) come from the files torchvision would download. Nothing is downloaded
here: a file is looked up in torchvision's download folder (:func:`hub_cache_file`) or given by
the user, checked against the SHA-256 prefix in its name when it has one (:func:`check_file_hash`)
and read as tensors only (:func:`read_state_dict`). Callers raise their own error, with their
own hints, for a missing file; everything else is a :class:`PretrainedWeightsError` naming the file.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from translate.imageio import file_sha256

# torchvision's names: NAME-<first hex digits of the file's SHA-256>.pth (vgg19-dcbb9e9d.pth,
# alexnet-owt-7be5be79.pth). Stricter than torch.hub.HASH_REGEX, which also takes a user's
# "my-face.pth" for a hash: at least 8 hex digits, right before the extension.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.[A-Za-z]+$")


class PretrainedWeightsError(ValueError):
    """A pretrained weights file is damaged, unreadable or not a state dict; the message names it."""


def hub_cache_file(url: str) -> Path:
    """Where torchvision keeps its download of ``url``: ``torch.hub.get_dir()/checkpoints/NAME``.

    That is ``$TORCH_HOME/hub/checkpoints`` (by default ``~/.cache/torch/hub/checkpoints``); a
    file copied there by hand is used as it is.
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def check_file_hash(path: Path) -> str | None:
    """Check ``path`` against the SHA-256 prefix in its torchvision name (``vgg19-dcbb9e9d.pth``).

    torch.hub checks that prefix only while downloading; a file copied by hand, or a download cut
    short, is checked here. A file named otherwise (a user's own ``my-vgg.pth``) is not read.

    Returns:
        The file's full SHA-256, or None when its name carries no hash.

    Raises:
        PretrainedWeightsError: the content does not match the name.
    """
    match = _HASH_IN_NAME.search(path.name)
    if match is None:
        return None
    expected = match.group(1)
    digest = file_sha256(path)
    if not digest.startswith(expected):
        raise PretrainedWeightsError(
            f"{path}: damaged or not the expected file (its SHA-256 starts {digest[: len(expected)]}, "
            f"its name says {expected}); delete it and copy the file again"
        )
    return digest


def read_state_dict(path: Path, what: str) -> dict[str, Tensor]:
    """The tensors of a ``.pth`` file (read with ``weights_only=True``: no code runs) or ``.safetensors`` file.

    Args:
        path: the file.
        what: what it should hold, for messages (``"VGG19 weights"``).

    Returns:
        ``{name: tensor}`` on the CPU.

    Raises:
        PretrainedWeightsError: the file cannot be read, or holds something else than a dict of tensors.
    """
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, SafetensorError) as error:
        reason = f"{type(error).__name__}: {next(iter(str(error).splitlines()), '')}"  # torch's run long
        raise PretrainedWeightsError(f"{path}: cannot read weights ({what}; {reason}); replace the file") from None
    if not isinstance(state, dict) or not all(isinstance(value, Tensor) for value in state.values()):
        raise PretrainedWeightsError(f"{path}: not a state dict of tensors ({what})")
    return state
