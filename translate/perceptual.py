"""Perceptual losses on frozen ImageNet backbones, VGG19 feature distance and LPIPS, and one that
needs no trained network: the local energy of oriented band-pass filters (:class:`BandEnergyLoss`).

Nothing is downloaded here. Each backbone's weights are the file torchvision would download,
looked up where torchvision keeps its downloads (``$TORCH_HOME/hub/checkpoints``, see
:func:`torch.hub.get_dir`), or a path the user gives (``--set loss.vgg_weights=PATH``), and
checked and read by :mod:`translate.pretrained`. A missing or unusable file is a
:class:`PerceptualWeightsError` that names the file, where to get it, and the losses that need no
external weights (discriminator feature matching, band energy).

All take images in [0, 1] and compute the distance in float32.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from translate.pretrained import PretrainedWeightsError, check_file_hash, hub_cache_file, read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# VGG19's convolution widths, "M" a 2×2 max pool: torchvision's layout of ``vgg19().features``.
_VGG19_PLAN: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                      512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
_ALTERNATIVE = "or choose loss.perceptual=feature_matching or band_energy, which need no external weights"


class PerceptualWeightsError(PretrainedWeightsError):
    """A perceptual loss's backbone weights are missing or unusable; the message names the file."""


def _vgg19_layer_names() -> dict[str, int]:
    """``conv3_4``, ``relu5_4``, ``pool2``... → index in ``vgg19().features``."""
    names: dict[str, int] = {}
    block, conv, index = 1, 0, 0
    for item in _VGG19_PLAN:
        if item == "M":
            names[f"pool{block}"] = index
            block, conv, index = block + 1, 0, index + 1
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
    return names


VGG19_LAYERS: dict[str, int] = _vgg19_layer_names()


def vgg19_url() -> str:
    """Where torchvision downloads its ImageNet VGG19 from (read from the installed torchvision)."""
    from torchvision.models import get_weight

    return get_weight("VGG19_Weights.IMAGENET1K_V1").url


def read_weights_file(given: str | os.PathLike, url: str, what: str, key: str) -> tuple[Path, dict[str, Tensor]]:
    """The tensors of ``given`` when set, else of torchvision's cached download of ``url``.

    A file named as torchvision names it (``vgg19-dcbb9e9d.pth``) is checked against the SHA-256
    prefix in its name first; a user's file named otherwise is read as it is.

    Args:
        given: the user's file (``--set KEY=PATH``); empty = the torch hub cache.
        url: where torchvision downloads the file from.
        what: the network, for messages (``VGG19``).
        key: the config key that gives the file, for messages (``loss.vgg_weights``).

    Returns:
        The file read and its ``{name: tensor}``.

    Raises:
        PerceptualWeightsError: the file is missing (the message names it and how to get it),
            damaged or not a state dict of tensors.
    """
    path = Path(given) if str(given) else hub_cache_file(url)
    if not path.is_file():
        where = "given by " + key if str(given) else "looked up in the torch hub cache"
        raise PerceptualWeightsError(
            f"{what} weights not found: {path} ({where}). Download {url} to {hub_cache_file(url)} "
            f"or pass --set {key}=PATH, {_ALTERNATIVE}"
        )
    try:
        check_file_hash(path)
        return path, read_state_dict(path, f"{what} weights")
    except PretrainedWeightsError as error:
        raise PerceptualWeightsError(f"{error}, {_ALTERNATIVE}") from None


def _load_subset(module: nn.Module, state: dict[str, Tensor], keys: dict[str, str], path: Path) -> None:
    """Copy ``state[source]`` into ``module``'s ``target`` for each ``target: source`` pair, checking shapes."""
    own = module.state_dict()
    missing = [source for source in keys.values() if source not in state]
    if missing:
        raise PerceptualWeightsError(
            f"{path}: missing {missing[0]} ({len(missing)} of the {len(keys)} tensors needed): not "
            f"torchvision's weights file; use that file, {_ALTERNATIVE}"
        )
    for target, source in keys.items():
        if state[source].shape != own[target].shape:
            raise PerceptualWeightsError(
                f"{path}: {source} has shape {tuple(state[source].shape)}, expected {tuple(own[target].shape)}"
            )
    module.load_state_dict({target: state[source].float() for target, source in keys.items()}, strict=False)


class _FrozenLoss(nn.Module):
    """A loss network that never trains and stays in eval mode."""

    def _freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> _FrozenLoss:
        return super().train(False)


class VGGFeatures(_FrozenLoss):
    """VGG19's convolutional layers up to ``layer``, with ImageNet weights from a local file.

    Args:
        layer: the last layer kept, e.g. ``conv5_4`` (ESRGAN: before the activation),
            ``relu5_4`` (SRGAN's VGG54), ``relu2_2`` (SRGAN's VGG22). See :data:`VGG19_LAYERS`.
        weights: torchvision's ``vgg19-dcbb9e9d.pth`` (or a state dict with its ``features.N``
            keys); empty = the torch hub cache.

    Shape:
        images: ``[N, 3, H, W]`` in [0, 1] (1 channel is repeated); output: that layer's activations.

    Raises:
        ValueError: an unknown layer name (the message lists them).
        PerceptualWeightsError: the weights file is missing or does not fit.
    """

    def __init__(self, layer: str = "conv5_4", weights: str | os.PathLike = "") -> None:
        super().__init__()
        if layer not in VGG19_LAYERS:
            raise ValueError(f"unknown VGG19 layer {layer!r}; choose one of: {', '.join(VGG19_LAYERS)}")
        path, state = read_weights_file(weights, vgg19_url(), "VGG19", "loss.vgg_weights")
        last = VGG19_LAYERS[layer]
        layers: list[nn.Module] = []
        width = 3
        for item in _VGG19_PLAN:
            if len(layers) > last:
                break
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(width, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                width = int(item)
        # Same indices as torchvision's vgg19().features, so "features.N.weight" maps to "N.weight".
        self.features = nn.Sequential(*layers[: last + 1])
        keys = {name: f"features.{name}" for name in self.features.state_dict()}
        _load_subset(self.features, state, keys, path)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.layer = layer
        self._freeze()

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.features((images[:, :3] - self.mean.to(images.dtype)) / self.std.to(images.dtype))


class VGGPerceptualLoss(_FrozenLoss):
    """Distance between VGG19 features of the output and the target (Johnson et al.; SRGAN; ESRGAN).

    Args:
        layer: see :class:`VGGFeatures`.
        weights: see :class:`VGGFeatures`.
        criterion: ``l1`` (ESRGAN) or ``l2`` (SRGAN).

    Shape:
        output, target: ``[N, C, H, W]`` in [0, 1]; returns a float32 scalar.
    """

    def __init__(self, layer: str = "conv5_4", weights: str | os.PathLike = "", criterion: str = "l1") -> None:
        super().__init__()
        if criterion not in ("l1", "l2"):
            raise ValueError(f"unknown criterion {criterion!r}; choose one of: l1, l2")
        self.network = VGGFeatures(layer, weights)
        self.criterion = criterion
        self._freeze()

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        fake, real = self.network(output).float(), self.network(target).detach().float()
        return F.l1_loss(fake, real) if self.criterion == "l1" else F.mse_loss(fake, real)


class LPIPSLoss(_FrozenLoss):
    """LPIPS (Zhang et al. 2018) as a training loss, with gradients.

    The network and its weights come from :class:`translate.metrics.LPIPS` (the ``lpips``
    package's linear layers, torchvision's backbone read from the torch hub cache or
    ``backbone_weights``, never downloaded); this wraps its module so the generator can learn
    through it.

    Args:
        net: ``vgg`` (recommended for optimisation) or ``alex``.
        backbone_weights: torchvision's ``vgg16-397923af.pth`` / ``alexnet-owt-7be5be79.pth``;
            empty = the torch hub cache.

    Shape:
        output, target: ``[N, C, H, W]`` in [0, 1]; returns a float32 scalar (mean over the batch).

    Raises:
        PerceptualWeightsError: the package or the backbone file is missing or does not fit.
    """

    def __init__(self, net: str = "vgg", backbone_weights: str | os.PathLike = "") -> None:
        super().__init__()
        from translate.metrics import LPIPS, MetricError

        try:
            self.network = LPIPS(net, backbone=str(backbone_weights) or None).network
        except MetricError as error:
            hint = f"or pass --set loss.lpips_backbone_weights=PATH, {_ALTERNATIVE}"
            raise PerceptualWeightsError(f"{error}; {hint}") from None
        self._freeze()

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if output.shape[1] == 1:
            output, target = output.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
        distance = self.network(output[:, :3].float(), target[:, :3].float().detach(), normalize=True)
        return distance.mean()


class BandEnergyLoss(nn.Module):
    """How much oriented detail each neighbourhood holds, output against target: a texture
    statistic that needs no trained network (oriented filter energies, as in the texture models of
    Heeger & Bergen 1995 and Portilla & Simoncelli 2000).

    The luma of each image is blurred by a Gaussian of each sigma in ``scales`` (output pixels) and
    differentiated in ``orientations`` directions; each response's local energy, the square root of
    its mean square under a Gaussian window of ``window`` pixels, is compared with L1. A pixel loss
    asks for the target's detail at exactly its place, which the low-resolution input does not
    determine, so its best answer is a blur; this one asks only for as much detail, in the same
    directions, in the same neighbourhood. Unlike a discriminator it is fixed, so what it asks for
    does not move while the generator learns.

    Shape:
        output, target: ``[N, C, H, W]`` in [0, 1], C 1 or 3 (or 4: the 4th is ignored); returns a
        float32 scalar.
    """

    def __init__(self, scales: tuple[float, ...] = (1.0, 2.0), window: float = 4.0, orientations: int = 4) -> None:
        super().__init__()
        if not scales or min(scales) <= 0 or window <= 0 or orientations < 1:
            raise ValueError(
                f"scales must be positive and non-empty, window positive, orientations at least 1; "
                f"got {scales}, {window}, {orientations}"
            )
        self.scales, self.window = tuple(scales), window
        angles = torch.arange(orientations, dtype=torch.float32) * (math.pi / orientations)
        self.register_buffer("directions", torch.stack([angles.cos(), angles.sin()], dim=1), persistent=False)
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1), persistent=False)

    def energies(self, images: Tensor) -> Tensor:
        """``[N, len(scales) · orientations, H, W]``: the local energy of each band."""
        from kornia.filters import spatial_gradient

        from translate.networks.sr import gaussian_blur

        with torch.autocast(images.device.type, enabled=False):
            images = images.float()
            grey = images[:, :1] if images.shape[1] == 1 else (images[:, :3] * self.luma).sum(1, keepdim=True)
            bands = []
            for sigma in self.scales:
                gradient = spatial_gradient(gaussian_blur(grey, sigma), mode="diff")[:, 0]  # [N, 2, H, W]
                bands.append(torch.einsum("nchw,oc->nohw", gradient, self.directions))
            responses = torch.cat(bands, dim=1)
            return (gaussian_blur(responses.square(), self.window) + 1e-6).sqrt()

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(self.energies(output), self.energies(target.detach()))
