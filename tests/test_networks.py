"""Shapes and ranges of every network and norm; conditional batch norm against its definition."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from translate.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    MultiScaleDiscriminator,
    PatchDiscriminator,
    PixelDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    build_discriminator,
    build_generator,
    unet_depth_for,
)
from translate.nn import ClassEmbedding, ConditionalBatchNorm2d, InstanceNorm2d, ReflectionPad2d, init_weights, make_norm
from translate.nn.norm import batch_norm_reference


@pytest.mark.parametrize("kind", ["unet", "resnet"])
@pytest.mark.parametrize("norm", ["batch", "instance", "none", "cbn"])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_generator_shapes_and_range(kind: str, norm: str, upsample: str) -> None:
    torch.manual_seed(0)
    config = GeneratorConfig(kind=kind, ngf=8, n_blocks=2, norm=norm, upsample=upsample)  # type: ignore[arg-type]
    generator = build_generator(config, in_channels=1, out_channels=3, image_size=32, num_classes=3 if norm == "cbn" else 0)
    labels = torch.tensor([0, 2]) if norm == "cbn" else None
    output = generator(torch.randn(2, 1, 32, 32), labels)
    assert output.shape == (2, 3, 32, 32)
    assert output.min() >= -1 and output.max() <= 1
    assert output.std() > 0  # not a constant image


def test_unet_depth_follows_image_size() -> None:
    assert unet_depth_for(256) == 8
    assert unet_depth_for(64) == 6
    assert build_generator(GeneratorConfig(ngf=4), 3, 3, image_size=64).size_multiple == 64
    generator = UNetGenerator(num_downs=8, ngf=64)
    # The pix2pix U-Net 256 has 54.4 M parameters.
    assert abs(sum(p.numel() for p in generator.parameters()) / 1e6 - 54.41) < 0.05


def test_unet_rejects_sizes_that_are_not_multiples() -> None:
    generator = UNetGenerator(num_downs=5, ngf=4)
    with pytest.raises(ValueError, match="multiples of 32"):
        generator(torch.randn(1, 3, 40, 32))


def test_unet_dropout_only_in_deep_decoder_blocks() -> None:
    generator = UNetGenerator(num_downs=8, ngf=4, dropout=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in generator.modules()) == 3  # as in pix2pix
    assert sum(isinstance(m, nn.Dropout) for m in UNetGenerator(num_downs=5, ngf=4).modules()) == 0


def test_resnet_generator_blocks_and_reflect_padding() -> None:
    generator = ResNetGenerator(ngf=8, n_blocks=6)
    assert sum(type(m).__name__ == "_ResnetBlock" for m in generator.modules()) == 6
    assert any(isinstance(m, ReflectionPad2d) for m in generator.modules())


def test_conditional_generator_needs_labels_and_plain_one_refuses_them() -> None:
    conditional = build_generator(GeneratorConfig(ngf=4, norm="cbn"), 3, 3, 32, num_classes=2)
    plain = build_generator(GeneratorConfig(ngf=4), 3, 3, 32)
    with pytest.raises(ValueError, match="pass labels"):
        conditional(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="not class-conditional"):
        plain(torch.randn(1, 3, 32, 32), torch.tensor([0]))


def test_class_changes_the_conditional_generator_output() -> None:
    torch.manual_seed(0)
    generator = build_generator(GeneratorConfig(kind="resnet", ngf=4, n_blocks=1, norm="cbn"), 3, 3, 16, num_classes=2)
    for module in generator.modules():  # give the classes different affine parameters
        if isinstance(module, ConditionalBatchNorm2d):
            nn.init.normal_(module.gain.weight, 0, 0.5)
    x = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(generator(x, torch.tensor([0, 0])), generator(x, torch.tensor([1, 1])))


@pytest.mark.parametrize("kind", ["patch", "pixel"])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("spectral", [False, True])
def test_discriminator_shapes(kind: str, norm: str, spectral: bool) -> None:
    config = DiscriminatorConfig(kind=kind, ndf=8, n_layers=3, norm=norm, spectral_norm=spectral)  # type: ignore[arg-type]
    discriminator = build_discriminator(config, in_channels=6)
    logits = discriminator(torch.randn(2, 6, 64, 64))
    expected = (2, 1, 6, 6) if kind == "patch" else (2, 1, 64, 64)
    assert logits.shape == expected
    has_sn = any(hasattr(m, "parametrizations") for m in discriminator.modules())
    assert has_sn == spectral


def test_patch_discriminator_70px_receptive_field() -> None:
    """Perturbing one input pixel changes only logits within 70×70 patches of it."""
    discriminator = PatchDiscriminator(in_channels=3, ndf=4, n_layers=3, norm="none").eval()
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    logits = discriminator(x)
    logits[0, 0, 15, 15].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()  # type: ignore[union-attr]
    assert rows.max() - rows.min() + 1 == 70


def test_spectral_norm_bounds_the_largest_singular_value() -> None:
    discriminator = PatchDiscriminator(3, ndf=8, n_layers=2, norm="none", spectral_norm=True).train()
    for _ in range(20):  # power iterations converge as the network runs
        discriminator(torch.randn(1, 3, 32, 32))
    conv = discriminator.body[0]
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_multiscale_discriminator_returns_one_output_per_scale() -> None:
    discriminator = build_discriminator(DiscriminatorConfig(ndf=4, n_layers=2, num_scales=3), 3)
    assert isinstance(discriminator, MultiScaleDiscriminator)
    outputs = discriminator(torch.randn(1, 3, 64, 64))
    assert [o.shape[-1] for o in outputs] == [14, 6, 2]


def test_pixel_discriminator_is_per_pixel() -> None:
    discriminator = PixelDiscriminator(3, ndf=4, norm="none").eval()
    x = torch.randn(1, 3, 8, 8)
    y = x.clone()
    y[..., 0, 0] += 1
    changed = (discriminator(x) != discriminator(y)).nonzero()
    assert changed.tolist() == [[0, 0, 0, 0]]


@pytest.mark.parametrize("kind", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_weights(kind: str) -> None:
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(16, 64, 3), nn.BatchNorm2d(64), nn.Linear(32, 32))
    init_weights(network, kind, gain=0.02)  # type: ignore[arg-type]
    conv = network[0]
    assert float(conv.bias.detach().abs().sum()) == 0
    if kind == "normal":
        assert conv.weight.std().item() == pytest.approx(0.02, rel=0.1)
    if kind == "orthogonal":
        flat = network[2].weight
        assert torch.allclose(flat @ flat.T, torch.eye(32) * 0.02**2, atol=1e-6)
    assert network[1].weight.mean().item() == pytest.approx(1.0, abs=0.01)


def test_init_leaves_conditional_projections_at_zero() -> None:
    norm = ConditionalBatchNorm2d(8, 4)
    nn.init.normal_(norm.gain.weight)
    init_weights(nn.Sequential(norm), "normal")
    assert not norm.gain.weight.detach().any() and not norm.bias.weight.detach().any()


def test_cbn_with_one_hot_class_equals_per_class_affine_batch_norm() -> None:
    torch.manual_seed(0)
    embedding = ClassEmbedding(num_classes=3, dim=5)
    norm = ConditionalBatchNorm2d(4, condition_dim=5)
    nn.init.normal_(norm.gain.weight)
    nn.init.normal_(norm.bias.weight)
    x = torch.randn(6, 4, 5, 5)
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    output = norm(x, embedding(labels))
    # Per-class affine parameters the layer implies.
    gamma = 1 + embedding.weight @ norm.gain.weight.T  # [classes, C]
    beta = embedding.weight @ norm.bias.weight.T
    expected = batch_norm_reference(x, gamma[labels], beta[labels])
    assert torch.allclose(output, expected, atol=1e-5)
    # One-hot weights are the same as indices.
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    assert torch.allclose(norm(x, embedding(one_hot)), output, atol=1e-5)


def test_cbn_blended_weights_interpolate_linearly() -> None:
    torch.manual_seed(1)
    embedding = ClassEmbedding(2, 4)
    norm = ConditionalBatchNorm2d(3, 4).eval()  # running statistics: BN(x) is fixed
    nn.init.normal_(norm.gain.weight)
    nn.init.normal_(norm.bias.weight)
    x = torch.randn(1, 3, 4, 4)
    out0 = norm(x, embedding(torch.tensor([0])))
    out1 = norm(x, embedding(torch.tensor([1])))
    blended = norm(x, embedding(torch.tensor([[0.3, 0.7]])))
    assert torch.allclose(blended, 0.3 * out0 + 0.7 * out1, atol=1e-5)


def test_class_embedding_errors() -> None:
    embedding = ClassEmbedding(3, 2)
    with pytest.raises(ValueError, match="out of range"):
        embedding(torch.tensor([3]))
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        embedding(torch.rand(1, 2))


def test_make_norm_names_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: batch, instance, none, cbn"):
        make_norm("group", 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_classes"):
        make_norm("cbn", 4)
    assert isinstance(make_norm("instance", 4), InstanceNorm2d)


def test_instance_norm_and_reflection_pad_match_torch_and_keep_dtype_and_layout() -> None:
    """Our layers compute torch's values, but keep bf16 and channels_last under CPU autocast."""
    x = torch.randn(2, 8, 9, 7, generator=torch.Generator().manual_seed(0))
    reference_norm = nn.InstanceNorm2d(8, affine=False, track_running_stats=False)
    torch.testing.assert_close(InstanceNorm2d(8)(x), reference_norm(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(ReflectionPad2d(3)(x), nn.ReflectionPad2d(3)(x), atol=0, rtol=0)
    packed = x.bfloat16().contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        normed, padded = InstanceNorm2d(8)(packed), ReflectionPad2d(1)(packed)
        assert nn.ReflectionPad2d(1)(packed).dtype == torch.float32  # what torch's layer does
    assert normed.dtype == padded.dtype == torch.bfloat16
    assert normed.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(padded.float(), nn.ReflectionPad2d(1)(packed.float()), atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"expected \[N, 8, H, W\]"):
        InstanceNorm2d(8)(torch.zeros(1, 4, 3, 3))
