"""pix2pix: a step trains both networks, a tiny model overfits, checkpoints round-trip exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import tiny_pix2pix_config
from translate import cli, load_pipeline
from translate.checkpoint import CheckpointError, save_checkpoint
from translate.pipelines import get_pipeline_class
from translate.pipelines.pix2pix import Pix2Pix
from translate.train import TrainConfig, Trainer


def _batch(pipeline: Pix2Pix, folder: Path, size: int = 4) -> dict:
    dataset = pipeline.build_dataset(folder, train=True)
    items = [dataset[(i % len(dataset), i)] for i in range(size)]
    return {key: torch.stack([item[key] for item in items]) for key in ("a", "b")} | {
        "index": torch.tensor([item["index"] for item in items])
    }


def test_registry_names_the_choices() -> None:
    assert get_pipeline_class("pix2pix") is Pix2Pix
    with pytest.raises(ValueError, match="unknown pipeline 'pixtopix'; choose one of: .*pix2pix"):
        get_pipeline_class("pixtopix")


@pytest.mark.parametrize("gan", ["vanilla", "lsgan", "hinge", "wgan"])
def test_one_step_changes_generator_and_discriminator(paired_folder: Path, gan: str) -> None:
    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config(f"loss.gan={gan}"))
    pipeline.setup_training(total_steps=10)
    before_g = [p.detach().clone() for p in pipeline.generator.parameters()]
    before_d = [p.detach().clone() for p in pipeline.discriminator.parameters()]
    losses = pipeline.training_step(_batch(pipeline, paired_folder), step=0)
    assert {"d", "g_gan", "g_l1"} <= set(losses) and all(map(torch.isfinite, map(torch.tensor, losses.values())))
    if gan == "wgan":
        assert losses["gp"] >= 0
    changed_g = sum(not torch.equal(a, b) for a, b in zip(before_g, pipeline.generator.parameters()))
    changed_d = sum(not torch.equal(a, b) for a, b in zip(before_d, pipeline.discriminator.parameters()))
    assert changed_g == len(before_g)
    # Under hinge and WGAN the last bias gets +1/N from fakes and -1/N from reals: its
    # gradient is exactly zero while every logit is inside the margin, so it may not move.
    assert changed_d == len(before_d) - (gan in ("hinge", "wgan") and changed_d < len(before_d))


def test_direction_swaps_input_and_target(paired_folder: Path) -> None:
    pipeline = Pix2Pix(tiny_pix2pix_config("direction=BtoA"))
    batch = _batch(pipeline, paired_folder, 1)
    source, target = pipeline._inputs_and_targets(batch)
    assert torch.allclose(source, batch["b"] * 2 - 1) and torch.allclose(target, batch["a"] * 2 - 1)


def test_tiny_pix2pix_overfits(paired_folder: Path, tmp_path: Path) -> None:
    """Held-in L1 to the target must fall far below where it starts; broken training stays put."""
    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config("data.flip=false", "optim.lr_policy=constant", "optim.lr_g=1e-3"))
    dataset = pipeline.build_dataset(paired_folder, train=True)
    batch = _batch(pipeline, paired_folder, 6)
    start = pipeline.validation_metrics(batch)["l1"]
    config = TrainConfig(steps=150, batch_size=6, workers=0, precision="fp32", sample_every=0, checkpoint_every=1000)
    Trainer(pipeline, dataset, tmp_path / "run", config).fit()
    end = pipeline.validation_metrics(batch)["l1"]
    assert start > 0.2
    assert end < 0.35 * start, (start, end)


def test_inference_on_any_size_keeps_the_size() -> None:
    pipeline = Pix2Pix(tiny_pix2pix_config()).eval()
    output = pipeline(torch.rand(2, 3, 30, 47))
    assert output.shape == (2, 3, 30, 47) and 0 <= output.min() and output.max() <= 1
    tiled = pipeline(torch.rand(3, 70, 90), tile=64, tile_overlap=16)
    assert tiled.shape == (3, 70, 90)
    with pytest.raises(ValueError, match="unknown option 'direction'"):
        pipeline(torch.rand(3, 32, 32), direction="AtoB")


def test_inference_is_deterministic_without_inference_dropout() -> None:
    pipeline = Pix2Pix(tiny_pix2pix_config("data.image_size=256")).eval()
    x = torch.rand(1, 3, 256, 256)
    assert torch.equal(pipeline(x), pipeline(x))
    noisy = Pix2Pix(tiny_pix2pix_config("data.image_size=256", "inference_dropout=true")).eval()
    assert not torch.equal(noisy(x), noisy(x))


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config("generator.norm=batch")).eval()
    x = torch.rand(2, 3, 32, 32)
    expected = pipeline(x)
    save_checkpoint(pipeline, tmp_path / "ckpt", extra={"description": "test model"})
    document = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert document["pipeline"] == "pix2pix" and document["format_version"] == 1
    assert document["metadata"]["input_channels"] == 3 and document["config"]["generator"]["ngf"] == 8
    loaded = load_pipeline(tmp_path / "ckpt")
    assert torch.equal(loaded(x), expected)


def test_fp16_checkpoint_stays_close(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = Pix2Pix(tiny_pix2pix_config()).eval()
    x = torch.rand(1, 3, 32, 32)
    save_checkpoint(pipeline, tmp_path / "half", dtype=torch.float16)
    mse = (load_pipeline(tmp_path / "half")(x) - pipeline(x)).pow(2).mean()
    assert 10 * torch.log10(1 / mse) > 45


def test_damaged_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    pipeline = Pix2Pix(tiny_pix2pix_config())
    folder = save_checkpoint(pipeline, tmp_path / "ckpt")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="model.safetensors: damaged weights file"):
        load_pipeline(folder)

    folder = save_checkpoint(pipeline, tmp_path / "ckpt2")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: damaged"):
        load_pipeline(folder)

    folder = save_checkpoint(pipeline, tmp_path / "ckpt3")
    document = json.loads((folder / "config.json").read_text())
    document["config"]["generator"]["ngf"] = 16  # weights no longer fit
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="has shape"):
        load_pipeline(folder)

    document["pipeline"] = "nope"
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="unknown pipeline 'nope'"):
        load_pipeline(folder)

    with pytest.raises(CheckpointError, match="no such checkpoint folder or shipped checkpoint"):
        load_pipeline(tmp_path / "missing")


def test_save_is_atomic_when_writing_fails(tmp_path: Path) -> None:
    pipeline = Pix2Pix(tiny_pix2pix_config())
    save_checkpoint(pipeline, tmp_path / "ckpt", extra={"description": "first"})

    def explode(path: Path) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(pipeline, tmp_path / "ckpt", extra={"description": "second"}, extra_files={"x": explode})
    document = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert document["description"] == "first"  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary left behind


def test_fine_tuning_at_another_size_keeps_the_checkpoints_u_net(paired_folder: Path, tmp_path: Path) -> None:
    """U-Net depth 0 means log2(image size): a checkpoint records the depth it was built with, and one
    saved before that (depth 0 in config.json) is read at its own size, so --image-size changes the crops only."""
    pipeline = Pix2Pix(tiny_pix2pix_config("data.image_size=16"))
    assert pipeline.config.generator.num_downs == 4
    folder = save_checkpoint(pipeline, tmp_path / "ckpt")
    document = json.loads((folder / "config.json").read_text())
    assert document["config"]["generator"]["num_downs"] == 4
    document["config"]["generator"]["num_downs"] = 0  # as checkpoints saved before this change say
    (folder / "config.json").write_text(json.dumps(document))
    run = tmp_path / "run"
    arguments = ["train", "pix2pix", "--init", str(folder), "--data", str(paired_folder), "--out", str(run)]
    assert cli.main([*arguments, "--image-size", "32", "--steps", "1", "--batch-size", "2"]) == 0
    tuned = load_pipeline(run / "final")
    assert tuned.config.data.image_size == 32 and tuned.config.generator.num_downs == 4
    assert tuned(torch.rand(3, 32, 32)).shape == (3, 32, 32)
