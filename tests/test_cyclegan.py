"""CycleGAN: the image pool, the cycle and identity terms, a step on all four networks, a tiny
unpaired run that learns a known mapping, and checkpoints both directions load from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from translate import load_pipeline
from translate.checkpoint import save_checkpoint
from translate.cli import main
from translate.config import ConfigError, apply_overrides
from translate.data import DatasetError, UnpairedDataset
from translate.infer import CONVERSION_RECORD
from translate.pipelines.cyclegan import CycleGAN, CycleGANConfig, ImagePool

TINY_CYCLEGAN = (
    "data.image_size=32",
    "data.preprocess=crop",
    "generator.ngf=8",
    "generator.n_blocks=2",
    "discriminator.ndf=8",
    "discriminator.n_layers=2",
)


def tiny_cyclegan_config(*extra: str) -> CycleGANConfig:
    return apply_overrides(CycleGANConfig(), list(TINY_CYCLEGAN) + list(extra))


def concentric_shape_pictures(count: int, size: int, seed: int) -> list[np.ndarray]:
    """Three kinds of shape on black, one per channel, around one random centre: a soft blob
    (R), a disc (G) and a square (B), each of a random size.

    Built for the unpaired test below, where the colour inverse must be the only simple way to
    match the inverted domain. Earlier versions of that test showed why each choice matters: with
    three alike blob channels any channel-permuted inverse matches as well (one run scored held-out
    L1 0.21), with shapes at independent places a run learned to swap their places as well as
    invert them (0.13), and with smaller shapes a plain white output already scored below the 0.1
    bar.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    pictures = []
    for _ in range(count):
        cx, cy = rng.uniform(0.3, 0.7, size=2)
        spread, radius, half = rng.uniform(0.03, 0.08), rng.uniform(0.12, 0.2), rng.uniform(0.15, 0.28)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / spread)
        disc = np.clip((radius - np.hypot(xx - cx, yy - cy)) * size / 2, 0, 1)  # edges 2 px soft
        square = ((np.abs(xx - cx) < half) & (np.abs(yy - cy) < half)).astype(float)
        pictures.append((np.stack([blob, disc, square], axis=-1) * 255).astype(np.uint8))
    return pictures


def write_domains(root: Path, count_a: int, count_b: int, seed: int = 0, paired_names: bool = False) -> Path:
    """Domain A: concentric-shape pictures; domain B: colour inverses of *other* pictures
    (unpaired), or of the same ones under the same names when ``paired_names``."""
    pictures = concentric_shape_pictures(count_a + count_b, 32, seed)
    for index in range(count_a):
        (root / "A").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pictures[index]).save(root / "A" / f"a{index:03d}.png")
    for index in range(count_b):
        (root / "B").mkdir(parents=True, exist_ok=True)
        source = pictures[index] if paired_names else pictures[count_a + index]
        name = f"a{index:03d}.png" if paired_names else f"b{index:03d}.png"
        Image.fromarray(255 - source).save(root / "B" / name)
    return root


def _batch(dataset: UnpairedDataset, keys: list[tuple[int, int]]) -> dict:
    items = [dataset[key] for key in keys]
    return {name: torch.stack([item[name] for item in items]) for name in ("a", "b")} | {
        "index": torch.tensor([item["index"] for item in items]),
        "paired": torch.tensor([item["paired"] for item in items]),
    }


# ---------------------------------------------------------------------------------- pool
def test_pool_fills_first_then_swaps_half_the_time() -> None:
    torch.manual_seed(0)
    pool = ImagePool(4)
    old = torch.zeros(4, 1, 2, 2)
    assert torch.equal(pool.query(old), old)  # filling: every image comes straight back
    returned_old = 0
    trials = 2000
    for trial in range(1, trials + 1):
        out = pool.query(torch.full((1, 1, 2, 2), float(trial)))
        value = float(out[0, 0, 0, 0])
        assert value <= trial  # never an image from the future
        returned_old += int(value != trial)
    # Once full, an image queried earlier comes back with probability 0.5.
    assert abs(returned_old / trials - 0.5) < 0.05


def test_pool_of_size_zero_passes_through_and_state_round_trips() -> None:
    images = torch.rand(3, 3, 4, 4)
    assert torch.equal(ImagePool(0).query(images), images)
    pool = ImagePool(5)
    pool.query(images)
    copy = ImagePool(5)
    copy.load_state(pool.state(), torch.device("cpu"))
    assert len(copy.images) == 3 and all(torch.equal(a, b) for a, b in zip(copy.images, pool.images))


# ---------------------------------------------------------------------------------- data
def test_unpaired_dataset_layouts_sizes_and_independent_sampling(tmp_path: Path) -> None:
    root = write_domains(tmp_path / "set" / "train", 3, 7)
    config = tiny_cyclegan_config().data
    dataset = UnpairedDataset(tmp_path / "set", 3, 3, config, train=True)
    assert len(dataset) == 7 and dataset.describe()["images_a"] == 3
    picks_b = {float(dataset[(0, seed)]["b"].sum()) for seed in range(40)}
    assert len(picks_b) > 3  # B is drawn independently of A's index
    assert torch.equal(dataset[(1, 5)]["a"], dataset[(1, 5)]["a"])  # and deterministic per key
    # pytorch-CycleGAN-and-pix2pix's trainA/trainB layout reads the same images.
    (tmp_path / "flat").mkdir()
    (root / "A").rename(tmp_path / "flat" / "trainA")
    (root / "B").rename(tmp_path / "flat" / "trainB")
    assert len(UnpairedDataset(tmp_path / "flat", 3, 3, config, train=True)) == 7
    with pytest.raises(DatasetError, match="testA and testB"):
        UnpairedDataset(tmp_path / "flat", 3, 3, config, train=False)


def test_a_folder_per_class_set_gives_the_domains_by_name(tmp_path: Path) -> None:
    """Animal-MNIST's layout (train/horse, train/zebra, ...): the domains' names pick two of the classes."""
    root = write_domains(tmp_path / "animals" / "train", 3, 5)
    (root / "A").rename(root / "horse")
    (root / "B").rename(root / "zebra")
    write_domains(root / "cat", 2, 0)
    config = tiny_cyclegan_config().data
    dataset = UnpairedDataset(tmp_path / "animals", 3, 3, config, train=True, domains=("horse", "zebra"))
    assert (dataset.folder_a.name, dataset.folder_b.name) == ("horse", "zebra") and len(dataset) == 5
    pipeline = CycleGAN(tiny_cyclegan_config("domain_a=zebra", "domain_b=horse"))
    assert pipeline.build_dataset(tmp_path / "animals", train=True).folder_a.name == "zebra"
    with pytest.raises(DatasetError, match="test/horse and test/zebra"):
        UnpairedDataset(tmp_path / "animals", 3, 3, config, train=False, domains=("horse", "zebra"))
    with pytest.raises(DatasetError, match="train/horse and train/donkey"):
        UnpairedDataset(tmp_path / "animals", 3, 3, config, train=True, domains=("horse", "donkey"))


def test_held_out_view_knows_when_a_and_b_are_the_same_scene(tmp_path: Path) -> None:
    config = tiny_cyclegan_config().data
    paired = UnpairedDataset(write_domains(tmp_path / "p", 3, 3, paired_names=True), 3, 3, config, train=False)
    unpaired = UnpairedDataset(write_domains(tmp_path / "u", 3, 3), 3, 3, config, train=False)
    assert all(paired[i]["paired"] for i in range(3))
    assert not any(unpaired[i]["paired"] for i in range(3))


# ---------------------------------------------------------------------------------- losses and steps
class _Identity(nn.Module):
    """A generator that returns its input, with one parameter so an optimizer accepts it."""

    size_multiple = 1

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, images: Tensor) -> Tensor:
        return images * self.scale


def test_cycle_and_identity_losses_are_zero_for_identity_generators(tmp_path: Path) -> None:
    pipeline = CycleGAN(tiny_cyclegan_config())
    pipeline.generator_ab, pipeline.generator_ba = _Identity(), _Identity()
    pipeline.setup_training(total_steps=1)
    dataset = pipeline.build_dataset(write_domains(tmp_path, 2, 2), train=True)
    losses = pipeline.training_step(_batch(dataset, [(0, 0), (1, 1)]), step=0)
    assert losses["cycle_a"] == 0 and losses["cycle_b"] == 0
    assert losses["idt_a"] == 0 and losses["idt_b"] == 0
    assert losses["g_ab"] > 0 and losses["d_a"] > 0


@pytest.mark.parametrize("gan", ["lsgan", "wgan"])
def test_one_step_changes_all_four_networks(tmp_path: Path, gan: str) -> None:
    torch.manual_seed(0)
    pipeline = CycleGAN(tiny_cyclegan_config(f"loss.gan={gan}", "augment.policy=color,translation"))
    pipeline.setup_training(total_steps=10)
    dataset = pipeline.build_dataset(write_domains(tmp_path, 3, 4), train=True)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in pipeline.training_modules().items()}
    losses = pipeline.training_step(_batch(dataset, [(0, 0), (1, 1)]), step=0)
    assert all(np.isfinite(v) for v in losses.values())
    for name, module in pipeline.training_modules().items():
        changed = sum(not torch.equal(a, b) for a, b in zip(before[name], module.parameters()))
        assert changed >= len(before[name]) - 1, f"{name}: only {changed} of {len(before[name])} tensors moved"
    assert len(pipeline.pool_a.images) == 2 and len(pipeline.pool_b.images) == 2


def test_config_checks_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="same channels"):
        CycleGAN(tiny_cyclegan_config("data.output_channels=1"))
    with pytest.raises(ConfigError, match="two different"):
        CycleGAN(tiny_cyclegan_config("domain_a=x", "domain_b=x"))


# ---------------------------------------------------------------------------------- learning
def test_tiny_unpaired_run_learns_the_colour_inverse(tmp_path: Path) -> None:
    """Unpaired shapes and inverted shapes: G_ab must find the inverse without ever seeing a pair.

    Trivial answers score above the 0.1 bar here (held-out L1): white 0.13, the mean training B
    image 0.13, a channel-permuted inverse 0.12, the identity 0.94. Trained runs reached
    0.050–0.068 in both directions over seeds 0–4 (fp32, with and without the bf16-friendly
    layers of translate.nn.layers), so the bar is not a matter of luck.
    """
    from translate.train import TrainConfig, Trainer

    torch.manual_seed(0)
    train_root = write_domains(tmp_path / "data" / "train", 24, 24, seed=0)
    write_domains(tmp_path / "data" / "test", 8, 8, seed=1, paired_names=True)
    # The identity term would pull G_ab(b) towards b, against the inverse this test asks for.
    config = tiny_cyclegan_config("loss.identity_weight=0", "generator.n_blocks=1")
    pipeline = CycleGAN(config)
    dataset = pipeline.build_dataset(train_root.parent, train=True)
    settings = TrainConfig(steps=600, batch_size=4, seed=0, precision="fp32", memory_format="contiguous",
                           log_every=100, sample_every=0, checkpoint_every=10_000, val_every=0, ema_decay=0, workers=0)
    Trainer(pipeline, dataset, tmp_path / "run", settings).fit()
    held_out = pipeline.build_dataset(tmp_path / "data", train=False)
    batch = _batch(held_out, [(i, i) for i in range(8)])
    assert bool(batch["paired"].all())
    metrics = pipeline.validation_metrics(batch)
    assert metrics["l1_a2b"] < 0.1 and metrics["l1_b2a"] < 0.1, metrics


def test_checkpoint_holds_both_directions_by_domain_name(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = CycleGAN(tiny_cyclegan_config("domain_a=horse", "domain_b=zebra"))
    path = save_checkpoint(pipeline, tmp_path / "ckpt")
    meta = json.loads((path / "config.json").read_text())
    assert meta["pipeline"] == "cyclegan" and meta["metadata"]["domains"] == ["horse", "zebra"]
    loaded = load_pipeline(path)
    image = torch.rand(3, 32, 32)
    with torch.inference_mode():
        ab = pipeline.eval().translate_batch(image[None], "a2b")[0]
        ba = pipeline.translate_batch(image[None], "b2a")[0]
    assert torch.allclose(loaded(image, direction="horse2zebra"), ab, atol=1e-6)
    assert torch.allclose(loaded(image, direction="zebra2horse"), ba, atol=1e-6)
    assert torch.allclose(loaded(image), ab, atol=1e-6)
    assert not torch.allclose(ab, ba)
    with pytest.raises(ValueError, match="unknown direction 'cat2dog'; choose one of: a2b, b2a, horse2zebra, zebra2horse"):
        loaded(image, direction="cat2dog")


def test_convert_takes_each_spelling_of_a_direction_for_the_same_conversion(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """An output folder records its conversion: resuming it with another name for the same
    direction carries on; the other direction, however spelled, is another conversion."""
    checkpoint = save_checkpoint(CycleGAN(tiny_cyclegan_config("domain_a=horse", "domain_b=zebra")), tmp_path / "ckpt")
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(inputs / "0.png")

    def convert(*direction: str) -> int:
        return main(["convert", "--checkpoint", str(checkpoint), str(inputs), str(out), *direction])

    assert convert("--direction", "horse2zebra") == 0
    assert json.loads((out / CONVERSION_RECORD).read_text())["options"] == {"direction": "a2b"}
    for same in ((), ("--direction", "a2b"), ("--direction", "AtoB"), ("--direction", "Horse2Zebra")):
        assert convert(*same) == 0, same
    capsys.readouterr()
    assert convert("--direction", "zebra2horse") == 2
    assert "holds the outputs of" in capsys.readouterr().err
    assert convert("--direction", "cat2dog") == 2  # refused by the pipeline, naming the valid ones
    assert "unknown direction 'cat2dog'" in capsys.readouterr().err


def test_cli_trains_and_converts_both_directions(tmp_path: Path) -> None:
    import subprocess
    import sys

    write_domains(tmp_path / "data" / "train", 3, 4)
    run = [sys.executable, "-m", "translate"]
    trained = subprocess.run(
        run + ["train", "cyclegan", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
               "--steps", "2", "--log-every", "1", "--sample-every", "0", "--precision", "fp32",
               "--memory-format", "contiguous", "--workers", "0",
               "--set", "domain_a=blob", "--set", "domain_b=inverse"]
        + [f"--set={item}" for item in TINY_CYCLEGAN],
        capture_output=True, text=True, timeout=300,
    )
    assert trained.returncode == 0, trained.stderr
    checkpoint = tmp_path / "run" / "final"
    outputs = {}
    for direction in ("blob2inverse", "inverse2blob"):
        out = tmp_path / direction
        done = subprocess.run(
            run + ["convert", "--checkpoint", str(checkpoint), "--direction", direction, "--quiet",
                   str(tmp_path / "data" / "train" / "A"), str(out)],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr
        files = sorted(out.glob("*.png"))
        assert len(files) == 3 and Image.open(files[0]).size == (32, 32)
        outputs[direction] = np.asarray(Image.open(files[0]))
    assert not np.array_equal(outputs["blob2inverse"], outputs["inverse2blob"])
    wrong = subprocess.run(
        run + ["convert", "--checkpoint", str(checkpoint), "--direction", "cat2dog",
               str(tmp_path / "data" / "train" / "A"), str(tmp_path / "wrong")],
        capture_output=True, text=True, timeout=300,
    )
    assert wrong.returncode == 2 and "blob2inverse" in wrong.stderr


def test_pool_state_keeps_images_of_different_sizes() -> None:
    """With preprocess=none the pooled fakes differ in size; the checkpoint must still hold them."""
    pool = ImagePool(3)
    pool.query(torch.rand(1, 3, 8, 8))
    pool.query(torch.rand(1, 3, 8, 12))
    copy = ImagePool(3)
    copy.load_state(pool.state(), torch.device("cpu"))
    assert [tuple(image.shape) for image in copy.images] == [(3, 8, 8), (3, 8, 12)]


def test_domain_names_differing_only_in_case_are_refused() -> None:
    with pytest.raises(ConfigError, match="two different"):
        CycleGAN(tiny_cyclegan_config("domain_a=Photo", "domain_b=photo"))


def test_a_failed_step_with_the_discriminators_frozen_leaves_them_trainable(tmp_path: Path) -> None:
    """The runtime probe may fail mid-step (out of memory in fp32); the optimizers built after it
    must still hold the discriminators' parameters."""
    pipeline = CycleGAN(tiny_cyclegan_config())
    pipeline.setup_training(total_steps=2)
    dataset = pipeline.build_dataset(write_domains(tmp_path, 2, 2), train=True)
    batch = _batch(dataset, [(0, 0)])
    batch["b"] = batch["b"][:, :1]  # a channel error inside the generators' step
    with pytest.raises(ValueError, match="expected"):
        pipeline.training_step(batch, step=0)
    pipeline.setup_training(total_steps=2)
    held = {id(p) for group in pipeline.optimizer_d.param_groups for p in group["params"]}
    assert {id(p) for p in pipeline.discriminator_a.parameters()} <= held
    before = [p.detach().clone() for p in pipeline.discriminator_a.parameters()]
    pipeline.training_step(_batch(dataset, [(0, 0)]), step=1)
    assert any(not torch.equal(a, b) for a, b in zip(before, pipeline.discriminator_a.parameters()))


@pytest.mark.parametrize(("size", "blocks"), [(64, 6), (128, 6), (256, 9)])
def test_resnet_depth_follows_the_image_size_and_is_recorded(tmp_path: Path, size: int, blocks: int) -> None:
    """9 residual blocks at 256 px, 6 at 128 px and below, unless generator.n_blocks says otherwise."""
    config = apply_overrides(CycleGANConfig(), [f"data.image_size={size}", "generator.ngf=2", "discriminator.ndf=2"])
    assert config.generator.n_blocks == 0  # by image size
    pipeline = CycleGAN(config)
    assert pipeline.config.generator.n_blocks == blocks
    assert sum(type(m).__name__ == "_ResnetBlock" for m in pipeline.generator_ab.modules()) == blocks
    folder = save_checkpoint(pipeline, tmp_path / "ckpt")
    assert json.loads((folder / "config.json").read_text())["config"]["generator"]["n_blocks"] == blocks
    chosen = CycleGAN(apply_overrides(config, ["generator.n_blocks=2"]))
    assert chosen.config.generator.n_blocks == 2


def test_fine_tuning_starts_both_generators_from_a_checkpoint_on_the_users_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    from translate import cli

    torch.manual_seed(0)  # the trainer's own seed: shifted below, so only --init can give these weights
    trained = CycleGAN(tiny_cyclegan_config("domain_a=blob", "domain_b=inverse"))
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.1)
    shipped = save_checkpoint(trained, tmp_path / "shipped")
    # The user's own two folders, in the trainA/trainB layout and of different sizes.
    users = write_domains(tmp_path / "mine" / "staging", 3, 5)
    (users / "A").rename(tmp_path / "mine" / "trainA")
    (users / "B").rename(tmp_path / "mine" / "trainB")
    still = ["--set", "optim.lr_g=0", "--set", "optim.lr_d=0"]  # one step that cannot move the weights
    fixed = ["--precision", "fp32", "--memory-format", "contiguous", "--workers", "0", "--sample-every", "0"]
    arguments = ["train", "cyclegan", "--init", str(shipped), "--data", str(tmp_path / "mine"), "--steps", "1"]
    assert cli.main([*arguments, "--out", str(tmp_path / "tuned"), *still, *fixed]) == 0
    assert "fine-tuning from" in capsys.readouterr().err
    started, tuned = load_file(shipped / "model.safetensors"), load_file(tmp_path / "tuned" / "final" / "model.safetensors")
    assert started.keys() == tuned.keys() and any(key.startswith("generator_ba.") for key in started)
    assert all(torch.equal(started[key], tuned[key]) for key in started)
    assert load_pipeline(tmp_path / "tuned" / "final").direction_names() == load_pipeline(shipped).direction_names()


def test_eval_scores_the_a_to_b_generator_against_the_paired_truth(tmp_path: Path) -> None:
    """translate eval on an aligned held-out set: L1 of G_ab(A) to the true B, beside the identity."""
    from translate.evaluate import MODEL_ROW, evaluate_checkpoint
    from translate.imageio import load_image

    torch.manual_seed(0)
    folder = save_checkpoint(CycleGAN(tiny_cyclegan_config()), tmp_path / "ckpt")
    data = tmp_path / "data"
    write_domains(data / "test", 3, 3, paired_names=True)
    report = evaluate_checkpoint(folder, data, metric_names=["l1"])
    pipeline = load_pipeline(folder)
    names = sorted(p.name for p in (data / "test" / "A").iterdir())
    inputs = torch.stack([load_image(data / "test" / "A" / name).pixels for name in names])
    truth = torch.stack([load_image(data / "test" / "B" / name).pixels for name in names])
    produced = torch.round(pipeline(inputs, direction="a2b").clamp(0, 1) * 255) / 255  # eval scores 8-bit outputs
    assert report.images == 3
    assert report.rows[MODEL_ROW]["l1"] == pytest.approx(float((produced - truth).abs().mean()), abs=1e-4)
    assert report.rows["identity"]["l1"] == pytest.approx(float((inputs - truth).abs().mean()), abs=1e-4)


def test_images_smaller_than_the_generators_bottleneck_translate_at_their_size() -> None:
    """A 1-px image or a 3-px strip: the ResNet's residual blocks need 8 px, inference pads to it."""
    pipeline = CycleGAN(tiny_cyclegan_config()).eval()
    assert pipeline.min_side == 8
    for size in ((1, 1), (3, 300), (4, 4)):
        assert pipeline(torch.rand(3, *size)).shape == (3, *size)
    assert pipeline(torch.rand(3, 3, 300), tile=64, tile_overlap=16).shape == (3, 3, 300)
