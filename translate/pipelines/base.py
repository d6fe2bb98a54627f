"""The pipeline contract: what a trainer, the CLI and the apps may rely on.

A pipeline is one file: its config dataclass, how it builds its networks and optimizers,
``training_step(batch, step) -> dict of losses``, and inference through ``__call__``. Images
cross the public API as float tensors in [0, 1]; the pipeline maps them to its networks' range.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from translate.networks import GeneratorConfig, with_automatic_choices
from translate.runtime import Precision, autocast
from translate.tiling import run_padded, run_tiled


def to_network_range(images: Tensor) -> Tensor:
    """[0, 1] → [-1, 1], the range of the tanh generators."""
    return images * 2 - 1


def from_network_range(images: Tensor) -> Tensor:
    """[-1, 1] → [0, 1], clamped."""
    return ((images.float() + 1) / 2).clamp(0, 1)


class Pipeline(nn.Module, ABC):
    """Base class of every pipeline. Subclasses set ``name`` and ``config_class``.

    Subclass duties:
        - build networks in ``__init__(config)``;
        - :meth:`inference_modules` (saved in ``model.safetensors``) and
          :meth:`training_modules` (everything a resume needs);
        - :meth:`build_dataset`, :meth:`setup_training`, :meth:`training_step`,
          :meth:`visuals`, :meth:`validation_metrics`;
        - :meth:`translate_batch`: one batch of padded network-sized images.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    #: metric from :meth:`validation_metrics` that picks the best checkpoint, lower is better.
    validation_key: ClassVar[str] = "l1"
    #: inference options applied after the network step in :meth:`forward` (SR ``outscale``),
    #: so not part of an exported graph or a network backend.
    post_network_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = self.concrete_config(config)
        self.device = torch.device("cpu")
        self.precision: Precision = "fp32"
        self.channels_last = False
        self._network_backend: tuple[dict[str, Any], Callable[[Tensor], Tensor]] | None = None

    @classmethod
    def concrete_config(cls, config: Any) -> Any:
        """The config with its by-image-size choices (U-Net depth, ResNet blocks: 0 = automatic)
        made concrete, so a checkpoint records the networks it holds and fine-tuning at another
        image size rebuilds the same ones."""
        generator = getattr(config, "generator", None)
        if isinstance(generator, GeneratorConfig):
            return replace(config, generator=with_automatic_choices(generator, config.data.image_size))
        return config

    # ------------------------------------------------------------------ description
    @property
    @abstractmethod
    def input_channels(self) -> int:
        """Channels the network input takes (1, 3 or 4)."""

    @property
    @abstractmethod
    def output_channels(self) -> int:
        """Channels of the output image."""

    @property
    @abstractmethod
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this; inference pads to it."""

    @property
    def min_side(self) -> int:
        """The smallest input side the inference networks take; inference pads smaller images to it."""
        return max((getattr(module, "min_side", 1) for module in self.inference_modules().values()), default=1)

    @property
    def scale(self) -> int:
        """Output size over input size (1 for translation, 2-4 for super-resolution)."""
        return 1

    # Whether the output is the same picture as the input (super-resolution), so a greyscale
    # input comes back greyscale; a translation may turn grey into colour (edges → emoji).
    keeps_image_kind = False

    def checkpoint_metadata(self) -> dict[str, Any]:
        """What config.json records beside the config: channels, sizes, names of classes or domains."""
        return {
            "input_channels": self.input_channels,
            "output_channels": self.output_channels,
            "size_multiple": self.size_multiple,
            "scale": self.scale,
        }

    @abstractmethod
    def inference_modules(self) -> dict[str, nn.Module]:
        """Networks needed at inference; their weights are ``model.safetensors``."""

    def training_modules(self) -> dict[str, nn.Module]:
        """All networks a resume needs (inference networks plus discriminators)."""
        return self.inference_modules()

    # ------------------------------------------------------------------ runtime
    def configure_runtime(self, device: torch.device, precision: Precision, channels_last: bool) -> Pipeline:
        """Move to ``device`` and choose the numeric precision and memory format."""
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.to(device)
        self.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        return self

    def use_network_backend(self, step: Callable[[Tensor], Tensor] | None, options: dict[str, Any] | None = None) -> None:
        """Run the network step with ``step`` (e.g. an ONNX Runtime session) instead of :meth:`translate_batch`.

        Padding, tiling and what a pipeline does after the network (SR ``outscale``) stay here.
        ``step`` was built for fixed ``options`` (a direction, a class); a call with other options
        is refused. ``None`` goes back to the PyTorch networks.
        """
        self._network_backend = None if step is None else (dict(options or {}), step)

    def autocast(self) -> Any:
        """Context for forward passes in this pipeline's precision."""
        return autocast(self.device, self.precision)

    def prepare(self, images: Tensor) -> Tensor:
        """Move an input batch to the device and memory format the networks use."""
        images = images.to(self.device, non_blocking=True)
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    # ------------------------------------------------------------------ training
    @abstractmethod
    def build_dataset(self, root: str | os.PathLike, train: bool) -> Dataset:
        """The dataset this pipeline trains on (``train=False``: the held-out view)."""

    @abstractmethod
    def setup_training(self, total_steps: int) -> None:
        """Create optimizers; ``total_steps`` shapes the learning-rate schedule."""

    @abstractmethod
    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the losses to log."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers :meth:`setup_training` made; under torchrun the trainer averages their
        gradients over the ranks before each step."""

    def training_state(self) -> dict[str, Any]:
        """Optimizer states and anything else (image pools, augmentation strength) a resume needs."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` returned (after :meth:`setup_training`)."""

    @abstractmethod
    def visuals(self, batch: dict[str, Any]) -> list[Tensor]:
        """Columns of the sample grid (e.g. input, output, target), each ``[N, C, H, W]`` in [0, 1]."""

    @abstractmethod
    def validation_metrics(self, batch: dict[str, Any]) -> dict[str, float]:
        """Held-out metrics on one batch, averaged by the trainer; must include :attr:`validation_key`."""

    # ------------------------------------------------------------------ inference
    @abstractmethod
    def translate_batch(self, images: Tensor, **options: Any) -> Tensor:
        """Network-sized images ``[N, C, H, W]`` in [0, 1] → outputs in [0, 1]."""

    def inference_options(self) -> dict[str, str]:
        """Options ``__call__`` accepts beyond the images, with a line of help each."""
        return {}

    @classmethod
    def canonical_options(cls, config: Any, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` as the outputs see them, so that two spellings of one conversion compare
        equal (a CycleGAN's ``horse2zebra`` and ``a2b``; an option given as its default). Read
        from the config alone, before any weights load. Values the pipeline would refuse are
        kept as given: calling it names them."""
        return dict(options)

    @torch.inference_mode()
    def forward(
        self,
        images: Tensor,
        tile: int | None = None,
        tile_overlap: int = 32,
        **options: Any,
    ) -> Tensor:
        """Translate images of any height and width.

        Args:
            images: ``[N, C, H, W]`` or ``[C, H, W]`` in [0, 1] with ``C == input_channels``.
            tile: process in overlapping tiles of this size (bounded memory); None = whole image.
            tile_overlap: overlap between tiles, blended smoothly.
            options: see :meth:`inference_options`.

        Returns:
            ``[N, output_channels, H * scale, W * scale]`` in [0, 1] (no batch dim if none came in).
        """
        unknown = sorted(set(options) - set(self.inference_options()))
        if unknown:
            valid = ", ".join(sorted(self.inference_options())) or "none"
            raise ValueError(f"unknown option {unknown[0]!r} for {self.name}; valid options: {valid}")
        squeeze = images.dim() == 3
        if squeeze:
            images = images[None]
        if images.dim() != 4 or images.shape[1] != self.input_channels:
            raise ValueError(f"expected [N, {self.input_channels}, H, W] images, got {tuple(images.shape)}")
        images = self.prepare(images.float())
        run: Callable[[Tensor], Tensor] = lambda batch: self.translate_batch(batch, **options)  # noqa: E731
        if self._network_backend is not None:
            fixed, run = self._network_backend
            if options != fixed:
                raise ValueError(f"this {self.name} network backend was built for options {fixed}, not {options}")
        if tile:
            tile = max(self.size_multiple, tile // self.size_multiple * self.size_multiple)
            overlap = min(tile_overlap, tile // 2 - 1)
            output = run_tiled(run, images, tile, overlap, self.size_multiple, self.scale, self.min_side)
        else:
            output = run_padded(run, images, self.size_multiple, self.scale, self.min_side)
        output = output.float().clamp_(0, 1).contiguous()
        return output[0] if squeeze else output
