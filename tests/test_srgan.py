"""srgan: sub-pixel shapes, a tiny generator that beats bicubic, tiles, alpha and kinds kept,
losses with known values, perceptual weights that are missing, and the CLI on a folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from conftest import ROOT, tiny_pix2pix_config
from translate import cli, load_pipeline
from translate.checkpoint import save_checkpoint
from translate.config import ConfigError, apply_overrides
from translate.data import DatasetError, HighResDataConfig, HighResolutionDataset
from translate.evaluate import evaluate_checkpoint
from translate.imageio import bicubic_resize, load_image, save_image, to_8bit_levels
from translate.infer import ConvertSettings, convert_files, translate_image
from translate.losses import feature_matching_loss, relativistic_discriminator_loss, relativistic_generator_loss
from translate.metrics import psnr_y
from translate.networks.sr import (
    HighPassInput,
    PixelShuffleUpsampler,
    RRDBGenerator,
    SRResNetGenerator,
    VGGStyleDiscriminator,
    logits_and_features,
)
from translate.perceptual import BandEnergyLoss, LPIPSLoss, PerceptualWeightsError, VGGPerceptualLoss
from translate.pipelines import get_pipeline_class
from translate.pipelines.pix2pix import Pix2Pix
from translate.pipelines.srgan import SRGAN, SRGANConfig

TINY = ("generator.num_features=8", "generator.num_blocks=1", "discriminator.ndf=8")


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # On a CPU shared with other jobs two OpenMP threads wait on each other (5× slower measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(*extra: str) -> SRGANConfig:
    return apply_overrides(SRGANConfig(), ["scale=2", "data.image_size=32", *TINY, *extra])


def shapes_image(size: int, seed: int) -> torch.Tensor:
    """A flat background with discs and bars of flat colour: sharp edges that bicubic blurs.

    Shape: ``[3, size, size]`` at 8-bit levels.
    """
    generator = torch.Generator().manual_seed(seed)
    rows, columns = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    image = torch.rand(3, 1, 1, generator=generator).expand(3, size, size).clone()
    for _ in range(max(6, size // 8)):
        colour = torch.rand(3, 1, 1, generator=generator)
        x, y = (torch.rand(2, generator=generator) * size).tolist()
        radius = float(torch.rand(1, generator=generator)) * size / 6 + 3
        if float(torch.rand(1, generator=generator)) < 0.5:
            mask = (columns - x) ** 2 + (rows - y) ** 2 < radius**2
        else:
            mask = ((columns - x).abs() < radius) & ((rows - y).abs() < radius / 2)
        image = torch.where(mask, colour, image)
    return to_8bit_levels(image)


def _save_hr_folder(root: Path, train: int = 4, test: int = 2, size: int = 48) -> Path:
    for split, count, offset in (("train", train, 0), ("test", test, 100)):
        for index in range(count):
            save_image(shapes_image(size, offset + index), root / split / f"photo{index}.png")
    return root


# ---------------------------------------------------------------------------------- networks
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sub_pixel_upsampling_and_generators_scale_every_side(scale: int) -> None:
    upsampler = PixelShuffleUpsampler(8, scale)
    assert upsampler(torch.rand(2, 8, 5, 7)).shape == (2, 8, 5 * scale, 7 * scale)
    assert sum(isinstance(m, nn.PixelShuffle) for m in upsampler) == (2 if scale == 4 else 1)
    for norm in ("batch", "none"):
        generator = SRResNetGenerator(3, 3, scale, num_features=8, num_blocks=2, norm=norm)
        assert generator(torch.rand(2, 3, 5, 7)).shape == (2, 3, 5 * scale, 7 * scale)
        assert any(isinstance(m, nn.BatchNorm2d) for m in generator.modules()) == (norm == "batch")
    if scale == 3:
        with pytest.raises(ValueError, match="RRDB generator upscales by 2, 4; got scale=3"):
            RRDBGenerator(scale=3)
    else:
        rrdb = RRDBGenerator(3, 3, scale, num_features=8, num_blocks=1, growth=4)
        assert rrdb(torch.rand(1, 3, 6, 8)).shape == (1, 3, 6 * scale, 8 * scale)
    with pytest.raises(ValueError, match="upscales by 2, 3, 4; got scale=5"):
        PixelShuffleUpsampler(8, 5)


def test_rrdb_keeps_the_parameter_names_of_esrgan_weights() -> None:
    names = set(RRDBGenerator(num_features=8, num_blocks=2, growth=4).state_dict())
    expected = {"conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"}
    expected |= {f"body.{b}.rdb{r}.conv{c}" for b in range(2) for r in (1, 2, 3) for c in range(1, 6)}
    assert names == {f"{layer}.{kind}" for layer in expected for kind in ("weight", "bias")}
    # ×2 folds 2×2 blocks into channels first, as Real-ESRGAN's x2 model.
    assert RRDBGenerator(scale=2, num_features=8, num_blocks=1).conv_first.in_channels == 12


def test_vgg_discriminator_judges_fixed_crops_and_exposes_features() -> None:
    discriminator = VGGStyleDiscriminator(3, ndf=8, image_size=32)
    logits, features = logits_and_features(discriminator, torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 1) and len(features) == 8
    assert [f.shape[1] for f in features] == [8, 8, 16, 16, 32, 32, 64, 64] and features[-1].shape[-1] == 2
    with pytest.raises(ValueError, match="discriminator.kind=patch for any size"):
        discriminator(torch.rand(1, 3, 48, 48))


def test_a_high_pass_discriminator_sees_detail_only_and_keeps_its_features_reachable() -> None:
    torch.manual_seed(0)
    config = tiny_config("phase=gan", "discriminator.kind=patch", "discriminator.high_pass_sigma=1.0")
    judge = SRGAN(config).discriminator
    assert isinstance(judge, HighPassInput) and judge.sigma == 1.0
    judge.eval()
    image = shapes_image(32, seed=3)[None]
    # Detail is what separates an image from its blur: a flat image has none, whatever its grey,
    # and a smooth ramp has almost none, while the discs' edges do.
    flat = judge.high_pass(torch.full((1, 3, 32, 32), 0.7))
    assert flat.abs().max() < 1e-6
    ramp = torch.linspace(0, 1, 32).expand(1, 3, 32, 32)
    assert judge.high_pass(ramp)[..., 4:-4, 4:-4].abs().max() < 1e-5
    assert judge.high_pass(image).abs().max() > 0.1
    assert torch.allclose(judge(torch.full((1, 3, 32, 32), 0.7)), judge(torch.full((1, 3, 32, 32), 0.2)), atol=1e-6)
    logits, features = logits_and_features(judge, image)
    assert torch.allclose(logits, judge(image)) and len(features) == 4
    detail = judge.high_pass(image)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the detail is taken in float32 all the same
        assert torch.equal(judge.high_pass(image), detail)
    vgg = SRGAN(tiny_config("phase=gan", "discriminator.high_pass_sigma=0.5")).discriminator
    assert isinstance(vgg, HighPassInput) and isinstance(vgg.discriminator, VGGStyleDiscriminator)
    assert len(logits_and_features(vgg, image)[1]) == 8
    assert not isinstance(SRGAN(tiny_config("phase=gan")).discriminator, HighPassInput)  # 0 = the whole image


# ---------------------------------------------------------------------------------- losses
def test_relativistic_and_feature_matching_losses_have_known_values() -> None:
    zeros = torch.zeros(4, 1)
    log2 = torch.log(torch.tensor(2.0))
    assert torch.isclose(relativistic_discriminator_loss(zeros, zeros), 2 * log2)
    assert torch.isclose(relativistic_generator_loss(zeros, zeros), 2 * log2)
    real, fake = torch.full((4, 1), 8.0), torch.full((4, 1), -8.0)
    assert relativistic_discriminator_loss(real, fake) < 1e-3 < relativistic_generator_loss(real, fake)
    # The generator loss reaches the fakes only: the reals are detached.
    real.requires_grad_(True)
    fake.requires_grad_(True)
    relativistic_generator_loss(real, fake).backward()
    assert real.grad is None and fake.grad is not None and fake.grad.sum() < 0
    features = [torch.rand(2, 3, 4, 4), torch.rand(2, 5, 2, 2)]
    assert feature_matching_loss(features, features) == 0
    shifted = [f + 0.25 for f in features]
    assert torch.isclose(feature_matching_loss(shifted, features), torch.tensor(0.25))


def test_missing_vgg_weights_name_the_file_and_the_alternative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub-cache"))
    pipeline = SRGAN(tiny_config("phase=gan", "loss.perceptual=vgg"))
    expected = tmp_path / "hub-cache" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(PerceptualWeightsError) as error:
        pipeline.setup_training(10)
    assert str(expected) in str(error.value) and "loss.vgg_weights=PATH" in str(error.value)
    assert "feature_matching" in str(error.value)
    given = tmp_path / "my-vgg.pth"
    with pytest.raises(PerceptualWeightsError, match=f"{given}.*given by loss.vgg_weights"):
        VGGPerceptualLoss(weights=given)
    given.write_bytes(b"not a checkpoint")
    with pytest.raises(PerceptualWeightsError, match="my-vgg.pth: cannot read weights"):
        VGGPerceptualLoss(weights=given)


def save_first_vgg_layers(path: Path) -> dict[str, torch.Tensor]:
    """Random weights for VGG19's first two convolutions (all relu1_2 needs), under torchvision's
    vgg19().features names, saved to ``path``."""
    state = {
        "features.0.weight": torch.randn(64, 3, 3, 3) * 0.1,
        "features.0.bias": torch.zeros(64),
        "features.2.weight": torch.randn(64, 64, 3, 3) * 0.05,
        "features.2.bias": torch.zeros(64),
    }
    torch.save(state, path)
    return state


def test_vgg_loss_reads_torchvision_keys_from_a_given_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = save_first_vgg_layers(tmp_path / "vgg.pth")
    loss = VGGPerceptualLoss("relu1_2", tmp_path / "vgg.pth")
    assert torch.equal(loss.network.features[2].weight, state["features.2.weight"])
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    assert loss(image, image) == 0
    distance = loss(image, torch.rand(1, 3, 16, 16))
    distance.backward()
    assert distance > 0 and image.grad is not None and not any(p.requires_grad for p in loss.parameters())
    with pytest.raises(PerceptualWeightsError, match="missing features.5.weight"):
        VGGPerceptualLoss("relu2_1", tmp_path / "vgg.pth")


def test_vgg_weights_named_as_torchvision_names_them_are_checked_against_their_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    state = {"features.0.weight": torch.randn(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}
    torch.save(state, tmp_path / "vgg.pth")
    digest = hashlib.sha256((tmp_path / "vgg.pth").read_bytes()).hexdigest()
    named = (tmp_path / "vgg.pth").rename(tmp_path / f"vgg19-{digest[:8]}.pth")
    assert torch.equal(VGGPerceptualLoss("relu1_1", named).network.features[0].weight, state["features.0.weight"])
    # torchvision's file name in the hub cache, with other content (a download cut short, say).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub-cache"))
    cached = tmp_path / "hub-cache" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    cached.parent.mkdir(parents=True)
    named.rename(cached)
    with pytest.raises(PerceptualWeightsError, match=f"{cached}: damaged or not the expected file.*feature_matching"):
        VGGPerceptualLoss("relu1_1")


def test_lpips_loss_reads_its_backbone_from_a_file_and_passes_gradients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub-cache"))
    with pytest.raises(PerceptualWeightsError, match="alexnet-owt-7be5be79.pth.*loss.lpips_backbone_weights=PATH"):
        LPIPSLoss("alex")
    torch.manual_seed(0)
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    torch.save({f"features.{key}": value for key, value in features.items()}, tmp_path / "alexnet.pth")
    loss = LPIPSLoss("alex", tmp_path / "alexnet.pth")
    assert torch.equal(loss.network.net.slice2.get_submodule("3").weight, features["3.weight"])
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    assert loss(image, image) == 0
    distance = loss(image, torch.rand(1, 3, 32, 32))
    distance.backward()
    assert distance > 0 and image.grad is not None and not any(p.requires_grad for p in loss.parameters())


# ---------------------------------------------------------------------------------- data
def test_high_resolution_crops_get_bicubic_inputs_drawn_from_the_seed(tmp_path: Path) -> None:
    root = _save_hr_folder(tmp_path / "photos")
    Image.new("RGB", (20, 60)).save(root / "train" / "small.png")  # shorter than the crop: skipped
    dataset = HighResolutionDataset(root, 2, HighResDataConfig(image_size=32))
    assert len(dataset) == 4 and dataset.skipped[0][0].name == "small.png"
    item = dataset[(1, 7)]
    assert item["a"].shape == (3, 16, 16) and item["b"].shape == (3, 32, 32)
    # The input is the one downscale translate eval and data build lowres make, at 8-bit levels.
    assert torch.equal(item["a"], to_8bit_levels(bicubic_resize(item["b"], (16, 16))))
    assert torch.equal(dataset[(1, 7)]["b"], item["b"]) and not torch.equal(dataset[(1, 8)]["b"], item["b"])
    held_out = HighResolutionDataset(root, 2, HighResDataConfig(image_size=32), train=False)
    assert len(held_out) == 2 and torch.equal(held_out[0]["b"], held_out[(0, 99)]["b"])
    degraded = HighResolutionDataset(root, 2, HighResDataConfig(image_size=32, blur=1.0, noise=1.0, jpeg=1.0))
    assert torch.equal(degraded[(1, 7)]["b"], item["b"]) and not torch.equal(degraded[(1, 7)]["a"], item["a"])
    with pytest.raises(DatasetError, match="must be a positive multiple of the scale 3"):
        HighResolutionDataset(root, 3, HighResDataConfig(image_size=32))
    with pytest.raises(DatasetError, match="no usable high-resolution images"):
        HighResolutionDataset(root, 2, HighResDataConfig(image_size=96))


def test_validation_scores_larger_centre_crops_when_asked(tmp_path: Path) -> None:
    """data.val_image_size: validation reads crops nearer the whole images translate eval scores."""
    root = _save_hr_folder(tmp_path / "photos")  # 48-pixel images
    Image.new("RGB", (40, 60)).save(root / "test" / "narrow.png")  # fits 32, not 48
    config = HighResDataConfig(image_size=32, val_image_size=48)
    held_out = HighResolutionDataset(root, 2, config, train=False)
    assert held_out[0]["a"].shape == (3, 24, 24) and held_out[0]["b"].shape == (3, 48, 48)
    assert held_out.skipped[0][0].name == "narrow.png" and "(data.val_image_size)" in held_out.skipped[0][1]
    assert torch.equal(held_out[0]["b"], load_image(held_out.files[0]).pixels)  # the whole 48-pixel image
    assert HighResolutionDataset(root, 2, config)[(0, 3)]["b"].shape == (3, 32, 32)  # training crops unchanged
    assert len(HighResolutionDataset(root, 2, HighResDataConfig(image_size=32), train=False)) == 3
    with pytest.raises(DatasetError, match="data.val_image_size 47 must be a positive multiple of the scale 2"):
        HighResolutionDataset(root, 2, HighResDataConfig(image_size=32, val_image_size=47), train=False)
    with pytest.raises(ConfigError, match="data.val_image_size: 30 must be a multiple of the scale 4"):
        SRGAN(tiny_config("scale=4", "data.image_size=32", "data.val_image_size=30"))
    with pytest.raises(ConfigError, match="data.val_image_size: generator.kind=rrdb at scale 2 needs a multiple of 4"):
        SRGAN(tiny_config("generator.kind=rrdb", "data.image_size=28", "data.val_image_size=30"))


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="scale: generator.kind=rrdb upscales by 2, 4, got 3"):
        SRGAN(tiny_config("scale=3", "generator.kind=rrdb"))
    with pytest.raises(ConfigError, match="data.image_size: the vgg discriminator needs a multiple of 16"):
        SRGAN(tiny_config("phase=gan", "data.image_size=40"))
    SRGAN(tiny_config("phase=gan", "data.image_size=40", "discriminator.kind=patch"))
    with pytest.raises(ConfigError, match="loss.vgg_layer: unknown layer 'relu5_5'; choose one of: conv1_1"):
        SRGAN(tiny_config("loss.vgg_layer=relu5_5"))
    with pytest.raises(ConfigError, match="data.channels: must be 1 .grey. or 3"):
        SRGAN(tiny_config("data.channels=4"))
    with pytest.raises(ConfigError, match="discriminator.high_pass_sigma: must be 0 .off. or positive, got -1.0"):
        SRGAN(tiny_config("phase=gan", "discriminator.high_pass_sigma=-1"))
    with pytest.raises(ConfigError, match="optim.discriminator_warmup: must be 0 or more steps, got -5"):
        SRGAN(tiny_config("phase=gan", "optim.discriminator_warmup=-5"))
    with pytest.raises(ConfigError, match="loss.pixel_low_pass_sigma: must be 0 .off. or positive, got -2.0"):
        SRGAN(tiny_config("phase=gan", "loss.pixel_low_pass_sigma=-2"))


def test_config_refuses_crops_the_generator_cannot_take_and_wgan_with_batch_norm() -> None:
    # ×2 RRDB folds 2×2 blocks of its input into channels: a 30-pixel crop gives 15-pixel inputs.
    with pytest.raises(ConfigError, match="data.image_size: generator.kind=rrdb at scale 2 needs a multiple of 4, got 30"):
        SRGAN(tiny_config("generator.kind=rrdb", "data.image_size=30"))
    rrdb = SRGAN(tiny_config("generator.kind=rrdb", "data.image_size=28"))
    assert rrdb.size_multiple == 2  # what the check asks of image_size / scale
    assert rrdb.generator(torch.rand(1, 3, 14, 14)).shape == (1, 3, 28, 28)
    SRGAN(tiny_config("data.image_size=30"))  # srresnet takes any input size
    # The gradient penalty is per sample; batch norm mixes the samples of the batch.
    with pytest.raises(ConfigError, match="loss.gan=wgan.*set discriminator.norm=none or discriminator.norm=instance"):
        SRGAN(tiny_config("phase=gan", "loss.gan=wgan"))
    with pytest.raises(ConfigError, match="loss.gan=wgan"):
        SRGAN(tiny_config("phase=gan", "loss.gan=wgan", "discriminator.kind=patch"))
    for norm in ("none", "instance"):
        assert SRGAN(tiny_config("phase=gan", "loss.gan=wgan", f"discriminator.norm={norm}")).discriminator is not None
    assert SRGAN(tiny_config("loss.gan=wgan")).discriminator is None  # psnr phase: no discriminator to check


# ---------------------------------------------------------------------------------- training
Trained = tuple[SRGAN, dict[str, torch.Tensor], float]


@pytest.fixture(scope="module")
def trained_tiny() -> Trained:
    """A ×2 SRResNet (16 features, 2 blocks) after 300 steps on four 32-pixel patches, the
    patches, and its PSNR-Y on them before training."""
    torch.manual_seed(0)
    config = tiny_config(
        "generator.num_features=16", "generator.num_blocks=2", "optim.lr_policy=constant", "optim.lr_g=3e-4"
    )
    pipeline = SRGAN(config)
    pipeline.setup_training(300)
    high = torch.stack([shapes_image(32, seed) for seed in range(4)])
    batch = {"a": to_8bit_levels(bicubic_resize(high, (16, 16))), "b": high, "index": torch.arange(4)}
    start = pipeline.validation_metrics(batch)["psnr_y"]
    for step in range(300):
        pipeline.training_step(batch, step)
    return pipeline.eval(), batch, start


def test_tiny_generator_overfits_above_bicubic(trained_tiny: Trained) -> None:
    pipeline, batch, start = trained_tiny
    bicubic = psnr_y(to_8bit_levels(bicubic_resize(batch["a"], (32, 32))), batch["b"], border=2).mean().item()
    trained = pipeline.validation_metrics(batch)["psnr_y"]
    assert start < bicubic and trained > bicubic + 0.8, (start, bicubic, trained)


def test_tiled_output_matches_the_whole_image(trained_tiny: Trained) -> None:
    pipeline, _, _ = trained_tiny
    image = shapes_image(256, seed=50)
    whole = pipeline(image, tile=0)
    assert whole.shape == (3, 512, 512)
    tiled = pipeline(image, tile=64, tile_overlap=32)
    assert (tiled - whole).abs().max() < 1 / 255
    # The same tiles with too little overlap show their seams: the tolerance is not met by accident.
    assert (pipeline(image, tile=64, tile_overlap=8) - whole).abs().max() > 1 / 255
    # Left to itself, an image larger than inference_tile (128) is tiled.
    assert (pipeline(image) - whole).abs().max() < 1 / 255 and not torch.equal(pipeline(image), whole)


@pytest.mark.parametrize(
    "discriminator", [("discriminator.kind=vgg", "loss.gan=relativistic"), ("discriminator.kind=patch", "loss.gan=lsgan")]
)
def test_gan_phase_step_trains_both_networks(discriminator: tuple[str, str]) -> None:
    """SRGAN's fixed-crop VGG-style D with the relativistic loss, and the shared PatchGAN (any size) with a shared loss."""
    torch.manual_seed(0)
    pipeline = SRGAN(tiny_config("phase=gan", "loss.perceptual=feature_matching", *discriminator))
    pipeline.setup_training(10)
    assert set(pipeline.training_modules()) == {"generator", "discriminator"}
    assert set(pipeline.inference_modules()) == {"generator"}
    high = torch.stack([shapes_image(32, seed) for seed in range(2)])
    batch = {"a": bicubic_resize(high, (16, 16)), "b": high, "index": torch.arange(2)}
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in pipeline.training_modules().items()}
    losses = pipeline.training_step(batch, 0)
    assert set(losses) == {"d", "g_gan", "g_l1", "g_feature_matching"}
    unchanged = {
        name: [key for (key, p), b in zip(m.named_parameters(), before[name]) if torch.equal(p, b)]
        for name, m in pipeline.training_modules().items()
    }
    # The relativistic loss only sees differences of logits: the last bias gets no gradient
    # (or a rounding error's worth, which Adam may still turn into a step).
    assert unchanged["generator"] == [] and unchanged["discriminator"] in ([], ["classifier.3.bias"])
    psnr_only = SRGAN(tiny_config())
    assert psnr_only.discriminator is None and set(psnr_only.training_modules()) == {"generator"}


def test_a_low_pass_pixel_loss_leaves_fine_detail_to_the_discriminator() -> None:
    high = torch.stack([shapes_image(32, seed) for seed in range(2)])
    rows, columns = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    grain = 0.05 * (1 - 2 * ((rows + columns) % 2)).float()  # the finest detail there is: a checkerboard
    blurred = bicubic_resize(bicubic_resize(high, (8, 8)), (32, 32))  # the detail lost, the colours kept
    full = SRGAN(tiny_config("phase=gan", "discriminator.kind=patch", "loss.perceptual=none"))
    split = SRGAN(
        tiny_config("phase=gan", "discriminator.kind=patch", "loss.perceptual=none", "loss.pixel_low_pass_sigma=1")
    )
    assert full.gan_pixel_loss(high + grain, high) > 0.04
    assert split.gan_pixel_loss(high + grain, high) < 0.002
    # Colour and shape stay compared: a shifted or blurred image still costs.
    assert split.gan_pixel_loss(high + 0.05, high) > 0.049
    assert split.gan_pixel_loss(blurred, high) > 0.3 * full.gan_pixel_loss(blurred, high) > 0
    fake = (high + grain).requires_grad_(True)
    split.gan_pixel_loss(fake, high).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_discriminator_warmup_trains_the_discriminator_alone_for_its_first_steps() -> None:
    torch.manual_seed(0)
    config = tiny_config("phase=gan", "discriminator.kind=patch", "loss.perceptual=none", "optim.discriminator_warmup=2")
    pipeline = SRGAN(config)
    pipeline.setup_training(10)
    high = torch.stack([shapes_image(32, seed) for seed in range(2)])
    batch = {"a": bicubic_resize(high, (16, 16)), "b": high, "index": torch.arange(2)}

    def snapshot(module: nn.Module) -> list[torch.Tensor]:
        return [p.detach().clone() for p in module.parameters()]

    def moved(module: nn.Module, before: list[torch.Tensor]) -> bool:
        return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before))

    generator, discriminator = snapshot(pipeline.generator), snapshot(pipeline.discriminator)
    for step in (0, 1):
        assert set(pipeline.training_step(batch, step)) == {"d"}
    assert not moved(pipeline.generator, generator) and moved(pipeline.discriminator, discriminator)
    assert all(p.grad is None for p in pipeline.generator.parameters())
    # After the warm-up both learn (steps count within the run: a run resumed past it does not repeat it).
    assert set(pipeline.training_step(batch, 2)) == {"d", "g_gan", "g_l1"}
    assert moved(pipeline.generator, generator)


def _gan_step_moving_every_generator_weight(pipeline: SRGAN) -> dict[str, float]:
    """One gan-phase step on two 32-px crops; checks every generator weight moved; the losses."""
    pipeline.setup_training(10)
    high = torch.stack([shapes_image(32, seed) for seed in range(2)])
    batch = {"a": bicubic_resize(high, (16, 16)), "b": high, "index": torch.arange(2)}
    before = [p.detach().clone() for p in pipeline.generator.parameters()]
    losses = pipeline.training_step(batch, 0)
    assert all(not torch.equal(p, b) for p, b in zip(pipeline.generator.parameters(), before))
    return losses


def test_gan_phase_step_with_vgg_features_moves_the_generator_and_keeps_vgg_fixed(tmp_path: Path) -> None:
    """The perceptual network's branch of the step (not feature matching): VGG19 features from a given file."""
    torch.manual_seed(0)
    state = save_first_vgg_layers(tmp_path / "vgg.pth")
    pipeline = SRGAN(
        tiny_config("phase=gan", "loss.perceptual=vgg", "loss.vgg_layer=relu1_2", f"loss.vgg_weights={tmp_path / 'vgg.pth'}")
    )
    losses = _gan_step_moving_every_generator_weight(pipeline)
    assert set(losses) == {"d", "g_gan", "g_l1", "g_vgg"} and losses["g_vgg"] > 0
    vgg = pipeline.perceptual.network.features
    assert torch.equal(vgg[2].weight, state["features.2.weight"]) and vgg[2].weight.grad is None
    # The VGG network is a loss, not part of the checkpoint.
    assert "perceptual" not in pipeline.training_modules()


def _texture(size: int, seed: int) -> torch.Tensor:
    """Grain of every orientation on a grey ramp: fine detail whose place a ×4 input cannot tell."""
    generator = torch.Generator().manual_seed(seed)
    grain = bicubic_resize(torch.rand(1, 1, size // 2, size // 2, generator=generator), (size, size))
    ramp = torch.linspace(0.3, 0.7, size).view(1, 1, 1, size)
    return (ramp + 0.3 * (grain - 0.5)).clamp(0, 1).expand(1, 3, size, size).contiguous()


def test_band_energy_asks_for_as_much_detail_not_the_same_pixels() -> None:
    loss = BandEnergyLoss()
    target = _texture(64, 0)
    other_grain = _texture(64, 1)  # the same kind of detail, elsewhere: what a good guess looks like
    blurred = bicubic_resize(bicubic_resize(target, (16, 16)), (64, 64))  # the detail lost
    assert loss(target, target) < 1e-6
    # L1 prefers the blur to the other grain; the band energy prefers the grain, by a wide margin.
    assert F.l1_loss(blurred, target) < F.l1_loss(other_grain, target)
    assert loss(other_grain, target) < 0.5 * loss(blurred, target)
    # Direction counts: stripes turned by 90 degrees hold as much detail but cost.
    columns = torch.arange(64).float()
    stripes = (0.5 + 0.2 * torch.sin(columns * 1.2)).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    assert loss(stripes.transpose(2, 3), stripes) > 5 * loss(stripes.roll(3, dims=3), stripes)
    # Float32 under autocast, gradients to the output only; grey images work too.
    fake = blurred.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(fake, target)
    value.backward()
    assert value.dtype == torch.float32 and fake.grad is not None and fake.grad.abs().sum() > 0
    assert loss(target[:, :1], target[:, :1]) < 1e-6 and loss(blurred[:, :1], target[:, :1]) > 0
    with pytest.raises(ValueError, match="scales"):
        BandEnergyLoss(scales=())


def test_gan_phase_step_with_band_energy_needs_no_weights_file() -> None:
    torch.manual_seed(0)
    pipeline = SRGAN(tiny_config("phase=gan", "discriminator.kind=patch", "loss.perceptual=band_energy"))
    losses = _gan_step_moving_every_generator_weight(pipeline)
    assert set(losses) == {"d", "g_gan", "g_l1", "g_band_energy"} and losses["g_band_energy"] > 0
    assert "perceptual" not in pipeline.training_modules()


# ---------------------------------------------------------------------------------- inference
def test_alpha_grey_and_16_bit_keep_their_kind(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = SRGAN(tiny_config()).eval()
    rgba = np.zeros((12, 10, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, 5:, 3] = 255  # right half opaque, left half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    result = translate_image(pipeline, load_image(tmp_path / "rgba.png", channels=3))
    assert result.pixels.shape == (3, 24, 20) and result.alpha is not None and result.alpha.shape == (1, 24, 20)
    save_image(result.pixels, tmp_path / "out.png", bit_depth=result.bit_depth, alpha=result.alpha)
    alpha = np.asarray(Image.open(tmp_path / "out.png"))[..., 3]
    assert Image.open(tmp_path / "out.png").mode == "RGBA"
    assert alpha[:, :8].max() < 10 and alpha[:, 12:].min() > 245

    grey = SRGAN(tiny_config("data.channels=1")).eval()
    values = (np.linspace(0, 65535, 24 * 24).reshape(24, 24)).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "grey16.png")
    result = translate_image(grey, load_image(tmp_path / "grey16.png", channels=1))
    save_image(result.pixels, tmp_path / "grey16-out.png", bit_depth=result.bit_depth)
    written = Image.open(tmp_path / "grey16-out.png")
    assert written.mode == "I;16" and written.size == (48, 48)
    assert (np.asarray(written) % 257 != 0).any()  # levels between the 8-bit ones (multiples of 257)


def test_a_colour_model_gives_grey_back_for_grey_and_16_bits_for_16_bits(tmp_path: Path) -> None:
    """What `translate convert` writes with a colour super-resolution model (the shipped kind)."""
    torch.manual_seed(0)
    colour = SRGAN(tiny_config()).eval()
    grey = np.linspace(0, 255, 12 * 10).reshape(12, 10).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    deep = np.random.default_rng(0).integers(0, 65536, (12, 10, 3), dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    plan = [(tmp_path / f"{name}.png", tmp_path / "out" / f"{name}.png") for name in ("grey", "deep")]
    summary = convert_files(colour, plan, ConvertSettings(workers=1))
    assert (summary.converted, summary.failed) == (2, [])
    written = Image.open(tmp_path / "out" / "grey.png")
    assert written.mode == "L" and written.size == (20, 24)
    expected = translate_image(colour, load_image(tmp_path / "grey.png")).pixels
    assert expected.shape == (1, 24, 20)  # the same through the API
    reread = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert reread.dtype == np.uint16 and reread.shape == (24, 20, 3)
    assert (reread % 257 != 0).any()  # not an 8-bit result stored in 16 bits
    # A translation may turn grey into colour (edges → emoji): only super-resolution keeps the kind.
    pix2pix = Pix2Pix(tiny_pix2pix_config()).eval()
    assert translate_image(pix2pix, load_image(tmp_path / "grey.png")).pixels.shape[0] == 3


def test_outscale_resizes_after_the_network_and_checkpoints_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = SRGAN(tiny_config("scale=4", "generator.norm=batch")).eval()
    image = torch.rand(3, 10, 14)
    assert pipeline(image, outscale=2.5).shape == (3, 25, 35)
    assert torch.allclose(pipeline(image, outscale=1.0), bicubic_resize(pipeline(image), (10, 14)))
    with pytest.raises(ValueError, match="outscale must be a positive number"):
        pipeline(image, outscale=0)
    folder = save_checkpoint(pipeline, tmp_path / "ckpt")
    document = json.loads((folder / "config.json").read_text())
    assert document["metadata"]["scale"] == 4 and document["metadata"]["phase"] == "psnr"
    assert torch.equal(load_pipeline(folder)(image), pipeline(image))
    assert get_pipeline_class("srgan") is SRGAN
    # --outscale at the network's own scale is the default conversion (convert's record says so).
    assert torch.equal(pipeline(image, outscale=4.0), pipeline(image))
    config = pipeline.config
    assert SRGAN.canonical_options(config, {"outscale": 4.0}) == {} == SRGAN.canonical_options(config, {})
    assert SRGAN.canonical_options(config, {"outscale": 2.5}) == {"outscale": 2.5}


# ---------------------------------------------------------------------------------- CLI
def translate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "translate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        timeout=300,
    )


def test_cli_trains_both_phases_then_converts_and_evaluates_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _save_hr_folder(tmp_path / "photos")
    fixed = ["--workers", "0", "--precision", "fp32", "--memory-format", "contiguous", "--batch-size", "2"]
    tiny = [arg for key in ("scale=2", "data.image_size=32", *TINY) for arg in ("--set", key)]
    psnr_run, gan_run = tmp_path / "psnr", tmp_path / "gan"
    first = translate(
        "train", "srgan", "--data", str(data), "--out", str(psnr_run), "--steps", "2", "--val-every", "2", *fixed, *tiny
    )
    assert first.returncode == 0, first.stderr
    assert (psnr_run / "best" / "model.safetensors").is_file()
    assert "val_neg_psnr_y" in (psnr_run / "log.csv").read_text().splitlines()[0]

    # The gan phase fine-tunes the psnr generator (in this process: the subprocess above covers start-up).
    gan_phase = ["train", "srgan", "--init", str(psnr_run / "final"), "--data", str(data), "--steps", "2"]
    matching = ["--set", "phase=gan", "--set", "loss.perceptual=feature_matching"]
    assert cli.main([*gan_phase, "--out", str(gan_run), *matching, *fixed]) == 0
    assert "fine-tuning from" in capsys.readouterr().err
    config = json.loads((gan_run / "final" / "config.json").read_text())
    assert (config["metadata"]["scale"], config["metadata"]["phase"]) == (2, "gan")
    assert config["config"]["data"]["image_size"] == 32
    assert {"d", "g_gan", "g_feature_matching"} <= set((gan_run / "log.csv").read_text().splitlines()[0].split(","))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    assert cli.main([*gan_phase, "--out", str(tmp_path / "vgg"), "--set", "phase=gan", *fixed]) == 2
    error = capsys.readouterr().err
    assert "vgg19-dcbb9e9d.pth" in error and "loss.vgg_weights=PATH" in error

    inputs = tmp_path / "inputs"
    save_image(torch.rand(3, 30, 45), inputs / "one.jpg")
    save_image(torch.rand(3, 17, 20), inputs / "nested" / "two.png", alpha=torch.rand(1, 17, 20))
    out = tmp_path / "out"
    converted = translate("convert", "--checkpoint", str(gan_run / "final"), str(inputs), str(out), "--quiet")
    assert converted.returncode == 0, converted.stderr
    assert "converted 2, skipped 0, failed 0" in converted.stderr
    assert Image.open(out / "one.jpg").size == (90, 60)
    two = Image.open(out / "nested" / "two.png")
    assert two.size == (40, 34) and two.mode == "RGBA"
    # --outscale: any final factor after the network's ×2 (here ×3 in all: 30×45 → 90×135).
    rescaled = tmp_path / "rescaled"
    converted = cli.main(["convert", "--checkpoint", str(gan_run / "final"), str(inputs / "one.jpg"),
                          str(rescaled / "one.png"), "--outscale", "3", "--quiet"])
    assert converted == 0 and Image.open(rescaled / "one.png").size == (135, 90)
    assert cli.main(["convert", "--checkpoint", str(gan_run / "final"), str(inputs / "one.jpg"),
                     str(rescaled / "bad.png"), "--outscale", "0", "--quiet"]) == 2
    assert "outscale must be a positive number" in capsys.readouterr().err and not (rescaled / "bad.png").exists()

    report = evaluate_checkpoint(gan_run / "final", data, metric_names=["psnr_y", "ssim_y"])
    assert report.task == "super-resolution" and report.images == 2 and report.settings["border_crop"] == 2
    assert list(report.rows) == ["model", "identity", "bicubic"]
    assert all(np.isfinite(scores["psnr_y"]) for scores in report.rows.values())
