"""Discriminator augmentation: DiffAugment's ops, one draw for image and condition, adaptive p, pix2pix wiring."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from kornia.enhance import adjust_brightness
from torch import Tensor

from conftest import tiny_pix2pix_config
from translate.augment import (
    AugmentConfig,
    AugmentDraw,
    DiffAugment,
    NoAugment,
    adjust_contrast_about_mean,
    adjust_saturation_about_mean,
    apply_color,
    apply_geometry,
    build_augment,
    cutout_mask,
    draw_parameters,
    parse_policy,
    translate_with_zeros,
)
from translate.config import apply_overrides
from translate.losses import real_fake_midpoint
from translate.pipelines.pix2pix import Pix2Pix
from translate.train import TrainConfig, Trainer, newest_checkpoint

ALL = ("color", "translation", "cutout")


def _all(batch: int) -> Tensor:
    return torch.ones(batch, dtype=torch.bool)


def _shifted(images: Tensor, dx: int, dy: int) -> Tensor:
    """Reference: content moved right by dx and down by dy, zeros where nothing came in."""
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


# ---------------------------------------------------------------------------------- gradients
OPS = {
    "brightness": lambda x: adjust_brightness(x, torch.tensor([0.3, -0.4], dtype=x.dtype), clip_output=False),
    "saturation": lambda x: adjust_saturation_about_mean(x, torch.tensor([0.2, 1.7])),
    "contrast": lambda x: adjust_contrast_about_mean(x, torch.tensor([0.6, 1.4])),
    "translation": lambda x: translate_with_zeros(x, torch.tensor([[1, -2], [-1, 1]])),
    "cutout": lambda x: x * cutout_mask(torch.tensor([[1, 2], [-2, 3]]), (3, 3), 6, 6).to(x.dtype),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_each_op_passes_gradcheck(op: str) -> None:
    torch.manual_seed(0)
    images = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(OPS[op], (images,))


def test_a_whole_drawn_pass_passes_gradcheck_and_reaches_every_pixel_it_keeps() -> None:
    torch.manual_seed(1)
    draw = draw_parameters(ALL, 2, 6, 6, p=1.0, device=torch.device("cpu"))
    images = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: apply_geometry(apply_color(x, draw), draw), (images,))
    apply_geometry(apply_color(images, draw), draw).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_pix2pix_generator_gets_gradients_through_the_augmented_discriminator() -> None:
    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config("augment.policy=color,translation,cutout", "augment.adaptive=false"))
    real_a = torch.rand(2, 3, 32, 32) * 2 - 1
    fake_b = pipeline.generator(real_a)
    logits = pipeline._discriminate(real_a, fake_b)
    (logits if isinstance(logits, Tensor) else logits[0]).sum().backward()
    grads = [p.grad for p in pipeline.generator.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(bool(g.abs().sum() > 0) for g in grads if g is not None) > len(grads) // 2


# ---------------------------------------------------------------------------------- what each op does
def test_translation_moves_by_the_drawn_whole_pixels_with_zero_fill() -> None:
    images = torch.arange(2 * 2 * 8 * 8, dtype=torch.float32).view(2, 2, 8, 8) + 1
    shifts = [(2, -1), (-3, 0)]
    draw = AugmentDraw(8, 8, applied={"translation": _all(2)}, shift=torch.tensor(shifts))
    moved = apply_geometry(images, draw)
    for index, (dx, dy) in enumerate(shifts):
        assert torch.equal(moved[index], _shifted(images[index], dx, dy))


def test_drawn_translations_stay_within_an_eighth_of_the_side() -> None:
    torch.manual_seed(0)
    draw = draw_parameters(("translation",), 200, 32, 16, p=1.0, device=torch.device("cpu"))
    assert draw.shift is not None
    dx, dy = draw.shift[:, 0], draw.shift[:, 1]
    assert (dx.min(), dx.max(), dy.min(), dy.max()) == (-2, 2, -4, 4)  # round(16 / 8), round(32 / 8)
    images = torch.rand(200, 1, 32, 16)
    moved = apply_geometry(images, draw)
    for index in range(0, 200, 23):
        assert torch.equal(moved[index], _shifted(images[index], int(dx[index]), int(dy[index])))


def test_cutout_zeroes_a_square_of_half_the_side() -> None:
    draw = AugmentDraw(16, 16, applied={"cutout": _all(1)}, cutout_corner=torch.tensor([[4, 2]]), cutout_size=(8, 8))
    out = apply_geometry(torch.ones(1, 3, 16, 16), draw)
    expected = torch.ones(1, 3, 16, 16)
    expected[..., 4:12, 2:10] = 0
    assert torch.equal(out, expected)

    torch.manual_seed(0)
    draw = draw_parameters(("cutout",), 100, 16, 16, p=1.0, device=torch.device("cpu"))
    assert draw.cutout_size == (8, 8) and draw.cutout_corner is not None
    zeros = apply_geometry(torch.ones(100, 1, 16, 16), draw)[:, 0] == 0
    for index in range(100):
        rows, cols = zeros[index].any(dim=1), zeros[index].any(dim=0)
        # One axis-aligned rectangle, at most 8 × 8, exactly 8 × 8 when the square is inside.
        assert 0 < rows.sum() <= 8 and 0 < cols.sum() <= 8
        assert zeros[index].sum() == rows.sum() * cols.sum()
        top, left = draw.cutout_corner[index].tolist()
        if 0 <= top <= 8 and 0 <= left <= 8:
            assert zeros[index].sum() == 64 and zeros[index, top, left] and zeros[index, top + 7, left + 7]


def test_brightness_saturation_and_contrast_on_known_inputs() -> None:
    brightened = adjust_brightness(torch.zeros(2, 1, 2, 2), torch.tensor([0.25, -0.75]), clip_output=False)
    assert torch.equal(brightened, torch.tensor([0.25, -0.75]).view(2, 1, 1, 1).expand(2, 1, 2, 2))  # unclamped

    pixel = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1).repeat(3, 1, 1, 1)
    saturated = adjust_saturation_about_mean(pixel, torch.tensor([0.0, 1.0, 2.0])).flatten(1)
    assert torch.equal(saturated, torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0]]))
    grey = torch.full((1, 3, 2, 2), 0.3)
    assert torch.allclose(adjust_saturation_about_mean(grey, torch.tensor([1.8])), grey)
    single = torch.randn(1, 1, 4, 4)
    assert torch.equal(adjust_saturation_about_mean(single, torch.tensor([1.8])), single)

    image = torch.tensor([[-1.0, 0.0], [0.5, 0.5]]).view(1, 1, 2, 2)  # mean 0
    assert torch.allclose(adjust_contrast_about_mean(image, torch.tensor([0.0])), torch.zeros(1, 1, 2, 2))
    assert torch.allclose(adjust_contrast_about_mean(image, torch.tensor([1.5])), image * 1.5)
    shifted = image + 0.2
    stretched = adjust_contrast_about_mean(shifted, torch.tensor([0.5]))
    assert torch.allclose(stretched, image * 0.5 + 0.2) and torch.isclose(stretched.mean(), shifted.mean())

    # apply_color: brightness, then saturation, then contrast, unclamped.
    images = torch.rand(2, 3, 4, 4) * 2 - 1
    draw = AugmentDraw(4, 4, applied={"color": _all(2)}, brightness=torch.tensor([0.4, -0.3]),
                       saturation=torch.tensor([1.5, 0.5]), contrast=torch.tensor([1.2, 0.7]))
    x = images + torch.tensor([0.4, -0.3]).view(2, 1, 1, 1)
    x = (x - x.mean(1, keepdim=True)) * torch.tensor([1.5, 0.5]).view(2, 1, 1, 1) + x.mean(1, keepdim=True)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * torch.tensor([1.2, 0.7]).view(2, 1, 1, 1) + mean
    assert torch.allclose(apply_color(images, draw), x, atol=1e-6)


# ---------------------------------------------------------------------------------- one draw, aligned pair
def test_condition_and_image_get_the_same_geometry_and_only_the_image_gets_colour() -> None:
    torch.manual_seed(0)
    condition = torch.rand(8, 3, 16, 16) * 2 - 1
    images, cond = DiffAugment(("translation", "cutout"), p=1.0)(condition.clone(), condition)
    assert cond is not None and torch.equal(images, cond) and not torch.equal(cond, condition)

    images, cond = DiffAugment(("color",), p=1.0)(condition.clone(), condition)
    assert torch.equal(cond, condition) and not torch.equal(images, condition)

    # The module replays one draw: the condition gets exactly the geometry the image got.
    image = torch.rand(8, 1, 16, 16) * 2 - 1
    torch.manual_seed(5)
    draw = draw_parameters(ALL, 8, 16, 16, p=1.0, device=torch.device("cpu"))
    torch.manual_seed(5)
    out_image, out_cond = DiffAugment(ALL, p=1.0)(image, condition)
    assert torch.equal(out_image, apply_geometry(apply_color(image, draw), draw))
    assert out_cond is not None and torch.equal(out_cond, apply_geometry(condition, draw))


# ---------------------------------------------------------------------------------- strength p
def test_p_zero_passes_images_unchanged_and_draws_nothing() -> None:
    images, condition = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    state = torch.get_rng_state()
    out, cond = DiffAugment(ALL, p=0.0)(images, condition)
    assert torch.equal(out, images) and cond is not None and torch.equal(cond, condition)
    assert torch.equal(torch.get_rng_state(), state)


def test_p_one_augments_every_sample_and_p_half_about_half_each_per_op() -> None:
    torch.manual_seed(0)
    images = torch.randn(16, 3, 4, 4)
    out, _ = DiffAugment(("color",), p=1.0)(images)
    assert all(not torch.equal(a, b) for a, b in zip(out, images))
    draw = draw_parameters(ALL, 16, 8, 8, p=1.0, device=torch.device("cpu"))
    assert all(mask.all() for mask in draw.applied.values())

    images = torch.randn(400, 3, 2, 2)
    out, _ = DiffAugment(("color",), p=0.5)(images)
    changed = (out != images).flatten(1).any(dim=1)
    assert 150 < int(changed.sum()) < 250  # Binomial(400, 0.5): mean 200, sd 10
    draw = draw_parameters(ALL, 400, 8, 8, p=0.5, device=torch.device("cpu"))
    masks = list(draw.applied.values())
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[1], masks[2])


def _adaptive(p: float, midpoint: float = 0.0) -> DiffAugment:
    # 4 steps of 2 images = 8 images per adjustment; 100 images for 0 → 1: steps of 0.08.
    return DiffAugment(("color",), p=p, midpoint=midpoint, target=0.6, adjust_every=4, adjust_kimg=0.1)


def test_p_rises_when_d_is_sure_of_the_reals_and_falls_when_not() -> None:
    augment = _adaptive(0.0)
    for _ in range(3):
        augment.observe_real_logits(torch.full((2, 1, 3, 3), 2.0))
    assert augment.p == 0.0  # only every adjust_every steps
    augment.observe_real_logits(torch.full((2, 1, 3, 3), 2.0))
    assert augment.p == pytest.approx(0.08)
    assert augment.statistics() == {"aug_p": augment.p}

    augment = _adaptive(0.5)
    for _ in range(4):
        augment.observe_real_logits(torch.full((2, 1, 3, 3), -2.0))
    assert augment.p == pytest.approx(0.42)

    # r_t exactly at the target (8 of 10 outputs above the midpoint): p stays.
    augment = _adaptive(0.5)
    for _ in range(4):
        augment.observe_real_logits(torch.tensor([1.0] * 8 + [-1.0] * 2).view(2, 1, 1, 5))
    assert augment.p == 0.5


def test_p_stays_within_zero_and_one() -> None:
    up, down = _adaptive(0.95), _adaptive(0.05)
    for _ in range(12):
        up.observe_real_logits(torch.ones(2, 1, 2, 2))
        down.observe_real_logits(-torch.ones(2, 1, 2, 2))
    assert up.p == 1.0 and down.p == 0.0


def test_lsgan_outputs_are_judged_against_half() -> None:
    config = AugmentConfig(policy="color", p=0.5, adjust_every=1, adjust_kimg=0.1)
    lsgan = build_augment(config, real_fake_midpoint("lsgan"))
    logits_like = build_augment(config, real_fake_midpoint("vanilla"))
    outputs = torch.full((2, 1, 3, 3), 0.3)  # LSGAN: closer to fake (0) than to real (1)
    lsgan.observe_real_logits(outputs)
    logits_like.observe_real_logits(outputs)
    assert lsgan.p < 0.5 < logits_like.p
    assert Pix2Pix(tiny_pix2pix_config("loss.gan=lsgan", "augment.policy=color")).augment.midpoint == 0.5


def test_fixed_p_when_not_adaptive_and_the_defaults_of_p() -> None:
    adaptive = build_augment(AugmentConfig(policy="cutout"), 0.0)
    assert isinstance(adaptive, DiffAugment) and adaptive.p == 0.0 and adaptive.adaptive
    for config in (AugmentConfig(policy="cutout", adaptive=False), AugmentConfig(policy="cutout", target=0.0)):
        fixed = build_augment(config, 0.0)
        assert isinstance(fixed, DiffAugment) and fixed.p == 1.0 and not fixed.adaptive
        for _ in range(8):
            fixed.observe_real_logits(-torch.ones(2, 1, 2, 2))
        assert fixed.p == 1.0
    assert build_augment(AugmentConfig(policy="cutout", p=0.3, adaptive=False), 0.0).p == 0.3
    assert isinstance(build_augment(AugmentConfig(), 0.0), NoAugment) and NoAugment().statistics() == {}


def test_training_state_restores_p_and_the_half_gathered_signal() -> None:
    straight, stopped = _adaptive(0.2), _adaptive(0.2)
    logits = [torch.randn(2, 1, 3, 3) + 1 for _ in range(7)]
    for item in logits:
        straight.observe_real_logits(item)
    for item in logits[:6]:
        stopped.observe_real_logits(item)
    buffer = io.BytesIO()
    torch.save(stopped.training_state(), buffer)
    buffer.seek(0)
    resumed = _adaptive(0.0)
    resumed.load_training_state(torch.load(buffer, weights_only=True))
    assert resumed.p == stopped.p != 0.2
    resumed.observe_real_logits(logits[6])
    assert resumed.training_state() == straight.training_state()


def test_the_signal_is_summed_over_ranks_under_torch_distributed(tmp_path: Path) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        augment = _adaptive(0.0)
        for _ in range(4):
            augment.observe_real_logits(torch.ones(2, 1, 2, 2))
        assert augment.p == pytest.approx(0.08)
    finally:
        torch.distributed.destroy_process_group()


def test_no_parameters_and_draws_from_the_global_rng() -> None:
    augment = DiffAugment(ALL, p=0.7)
    assert list(augment.parameters()) == [] and len(augment.state_dict()) == 0
    images = torch.randn(4, 3, 8, 8)
    torch.manual_seed(3)
    first, _ = augment(images)
    torch.manual_seed(3)
    again, _ = augment(images)
    other, _ = augment(images)
    assert torch.equal(first, again) and not torch.equal(first, other)
    plain = Pix2Pix(tiny_pix2pix_config())
    augmented = Pix2Pix(tiny_pix2pix_config("augment.policy=color,translation,cutout"))
    assert plain.state_dict().keys() == augmented.state_dict().keys()


# ---------------------------------------------------------------------------------- config
def test_policy_strings_are_validated_with_the_choices() -> None:
    assert parse_policy(" cutout, color ") == ("cutout", "color") and parse_policy("") == ()
    with pytest.raises(ValueError, match=r"^unknown augment policy 'colour'; choose from: color, cutout, translation$"):
        parse_policy("colour,translation")
    with pytest.raises(ValueError, match="'cutout' is named twice"):
        parse_policy("cutout,cutout")
    with pytest.raises(ValueError, match="unknown augment policy 'colour'"):
        Pix2Pix(tiny_pix2pix_config("augment.policy=colour"))
    with pytest.raises(ValueError, match=r"augment.p must be in \[0, 1\]"):
        build_augment(AugmentConfig(policy="color", p=1.5), 0.0)
    with pytest.raises(ValueError, match=r"augment.target must be in \(0, 1\)"):
        build_augment(AugmentConfig(policy="color", target=1.2), 0.0)
    config = apply_overrides(tiny_pix2pix_config(), ["augment.p=0.25", "augment.adjust_kimg=2"])
    assert config.augment.p == 0.25 and config.augment.adjust_kimg == 2.0
    assert apply_overrides(config, ["augment.p=none"]).augment.p is None


# ---------------------------------------------------------------------------------- in training
def _batch(pipeline: Pix2Pix, folder: Path, size: int = 2) -> dict:
    dataset = pipeline.build_dataset(folder, train=True)
    items = [dataset[(i, i)] for i in range(size)]
    return {key: torch.stack([item[key] for item in items]) for key in ("a", "b")}


def test_pix2pix_step_with_augmentation_trains_and_reports_p(paired_folder: Path) -> None:
    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config(
        "augment.policy=color,translation,cutout", "augment.p=0.5", "augment.adjust_every=1"
    ))
    pipeline.setup_training(total_steps=10)
    before = [p.detach().clone() for p in pipeline.parameters()]
    losses = pipeline.training_step(_batch(pipeline, paired_folder), step=0)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert 0.0 <= losses["aug_p"] <= 1.0 and losses["aug_p"] != 0.5 and losses["aug_p"] == pipeline.augment.p
    assert all(not torch.equal(a, b) for a, b in zip(before, pipeline.parameters()))
    assert pipeline.training_state()["augment"]["p"] == losses["aug_p"]


def _trainer(folder: Path, run_dir: Path, **settings: object) -> Trainer:
    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config(
        "generator.num_downs=5", "augment.policy=color,translation,cutout", "augment.p=0.5",
        "augment.adjust_every=2", "augment.adjust_kimg=0.02",
    ))
    dataset = pipeline.build_dataset(folder, train=True)
    defaults = {"batch_size": 2, "precision": "fp32", "memory_format": "contiguous", "workers": 0,
                "sample_every": 0, "checkpoint_every": 1000, "seed": 3}
    return Trainer(pipeline, dataset, run_dir, TrainConfig(**(defaults | settings)))  # type: ignore[arg-type]


def test_resume_is_exact_with_adaptive_augmentation(aligned_folder: Path, tmp_path: Path) -> None:
    straight = _trainer(aligned_folder, tmp_path / "straight", steps=8)
    straight.fit()
    first = _trainer(aligned_folder, tmp_path / "split", steps=8, stop_after=4)
    first.fit()
    second = _trainer(aligned_folder, tmp_path / "split", steps=8)
    second.fit(resume_from=newest_checkpoint(tmp_path / "split"))
    assert straight.pipeline.augment.p == second.pipeline.augment.p != 0.5
    for name, module in straight.pipeline.training_modules().items():
        resumed = second.pipeline.training_modules()[name]
        for (key, a), b in zip(module.state_dict().items(), resumed.state_dict().values()):
            assert torch.equal(a, b), f"{name}.{key} differs after resume"
    assert "aug_p" in (tmp_path / "split" / "log.csv").read_text().splitlines()[0].split(",")


def test_wgan_gradient_penalty_sees_augmented_pairs() -> None:
    """The penalty's interpolates pass through the augmentation hook too (every input D sees)."""
    from conftest import tiny_pix2pix_config
    from translate.pipelines.pix2pix import Pix2Pix

    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config("loss.gan=wgan", "augment.policy=translation", "augment.adaptive=false"))
    pipeline.setup_training(10)
    calls: list[int] = []
    original = pipeline.augment.forward

    def counting(images: torch.Tensor, condition: torch.Tensor | None = None):  # noqa: ANN202
        calls.append(images.shape[0])
        return original(images, condition)

    pipeline.augment.forward = counting  # type: ignore[method-assign]
    batch = {"a": torch.rand(2, 3, 32, 32), "b": torch.rand(2, 3, 32, 32), "index": torch.arange(2)}
    losses = pipeline.training_step(batch, 0)
    assert "gp" in losses
    assert len(calls) == 4  # fake and real for D, the interpolates for the penalty, fake for G
