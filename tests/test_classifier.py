"""The independent classifier and the class evaluation: training, round trip, fidelity of a tiny cbn run,
and CycleGANs scored with their domains as the classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from test_cbn import CLASSES, make_stripes, one_thread, tiny_cbn_config  # noqa: F401 - one_thread is autouse
from translate.checkpoint import CheckpointError, save_checkpoint
from translate.class_eval import (
    IDENTITY_ROW,
    MEAN,
    MODEL_ROW,
    REAL_HELD_OUT_ROW,
    REAL_TRAINING_ROW,
    class_grid,
    class_model,
    evaluate_classes,
)
from translate.classifier import (
    ClassifierConfig,
    ClassifierTraining,
    ImageClassifier,
    load_class_images,
    load_classifier,
    main as train_classifier_main,
    save_classifier,
    train_classifier,
)
from translate.cli import main as cli_main
from translate.config import apply_overrides
from translate.data import ClassFolderDataset, DataConfig
from translate.pipelines.cbn import ClassConditional
from translate.pipelines.cyclegan import CycleGAN, CycleGANConfig
from translate.pipelines.pix2pix import Pix2Pix, Pix2PixConfig
from translate.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def stripes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_stripes(tmp_path_factory.mktemp("data") / "stripes", count=48, held_out=8)


@pytest.fixture(scope="module")
def classifier(stripes: Path) -> ImageClassifier:
    config = ClassifierConfig(CLASSES, image_size=16, channels=3, width=8)
    return train_classifier(stripes, config, ClassifierTraining(steps=60, batch_size=32))


def _held_out(stripes: Path) -> tuple[torch.Tensor, torch.Tensor]:
    config = DataConfig(image_size=16, preprocess="crop")
    return load_class_images(ClassFolderDataset(stripes, CLASSES, 3, config, train=False))


def test_classifier_learns_real_classes_and_round_trips(
    stripes: Path, classifier: ImageClassifier, tmp_path: Path
) -> None:
    images, labels = _held_out(stripes)
    assert torch.equal(classifier.predict(images), labels)  # held-out accuracy 1.0: the ceiling
    # Any channels and size go through the loader's channel policy and a resize.
    assert torch.equal(classifier.predict(torch.nn.functional.interpolate(images, size=24)), labels)
    folder = save_classifier(classifier, tmp_path / "classifier", {"held_out": {"accuracy": 1.0}})
    loaded = load_classifier(folder)
    assert loaded.classes == list(CLASSES)
    assert torch.equal(loaded(images), classifier.eval()(images))
    with pytest.raises(CheckpointError, match="not a classifier folder"):
        load_classifier(tmp_path)


def test_training_script_reports_held_out_accuracy(
    stripes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "classifier"
    arguments = ["--data", str(stripes), "--out", str(out), "--image-size", "16", "--width", "4", "--steps", "5"]
    assert train_classifier_main(arguments) == 0
    document = json.loads((out / "config.json").read_text())
    assert document["config"]["classes"] == list(CLASSES) and 0 <= document["held_out"]["accuracy"] <= 1
    assert "held-out accuracy" in capsys.readouterr().out
    # A folder without a held-out split cannot measure the ceiling: refused before training.
    assert train_classifier_main(["--data", str(stripes / "train"), "--out", str(tmp_path / "no")]) == 2
    assert "needs train/ and test/" in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_tiny_generation_run_draws_the_requested_class(
    stripes: Path, classifier: ImageClassifier, tmp_path: Path
) -> None:
    """A short run on horizontal vs vertical stripes: the classifier, trained on real images only,
    must find the requested class in at least 90% of each class's samples (chance is 50%)."""
    torch.manual_seed(0)
    config = tiny_cbn_config("generation", "optim.lr_policy=constant", "optim.lr_g=4e-4", "optim.lr_d=8e-4")
    pipeline = ClassConditional(config)
    dataset = pipeline.build_dataset(stripes, train=True)
    settings = TrainConfig(steps=120, batch_size=16, workers=0, precision="fp32", memory_format="contiguous",
                           sample_every=0, checkpoint_every=1000)
    Trainer(pipeline, dataset, tmp_path / "run", settings).fit()
    final = tmp_path / "run" / "final"
    report = evaluate_classes(final, stripes, classifier, metric_names=["fidelity"], samples_per_class=64)
    model = report.scores[MODEL_ROW]
    assert model["horizontal"]["fidelity"] >= 0.9 and model["vertical"]["fidelity"] >= 0.9, report.table()
    assert model[MEAN]["images"] == 128
    assert report.scores[REAL_HELD_OUT_ROW][MEAN]["fidelity"] == 1.0  # the ceiling
    assert set(report.scores) == {MODEL_ROW, REAL_HELD_OUT_ROW, REAL_TRAINING_ROW}


def _pixel_features(images: torch.Tensor) -> torch.Tensor:
    """A stand-in for Inception (the wiring is under test, not the network): 4×4 thumbnails."""
    return torch.nn.functional.avg_pool2d(images.float(), 4).flatten(1).double()


def test_translation_report_rows_and_baselines(stripes: Path, classifier: ImageClassifier, tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = ClassConditional(tiny_cbn_config("translation")).eval()
    report = evaluate_classes(
        pipeline, stripes, classifier, inception=_pixel_features, kid_subsets=5  # type: ignore[arg-type]
    )
    scores = report.scores
    assert set(scores) == {MODEL_ROW, IDENTITY_ROW, REAL_HELD_OUT_ROW, REAL_TRAINING_ROW}
    # The identity returns images of the other class: the classifier never finds the target class.
    assert scores[IDENTITY_ROW][MEAN]["fidelity"] == 0.0 and scores[REAL_HELD_OUT_ROW][MEAN]["fidelity"] == 1.0
    # Its L1 to the true image of the target class is that of a stripe picture and its transpose.
    images, labels = _held_out(stripes)
    expected = (images[labels == 0] - images[labels == 0].transpose(2, 3)).abs().mean()
    assert scores[IDENTITY_ROW]["vertical"]["l1"] == pytest.approx(float(expected), abs=1e-6)
    # Real images of the class are much closer to the held-out ones than the other class is.
    assert scores[REAL_TRAINING_ROW][MEAN]["fid"] < 0.5 * scores[IDENTITY_ROW][MEAN]["fid"]
    assert {"fid", "kid", "kid_std", "fidelity", "l1"} <= set(scores[MODEL_ROW]["horizontal"])
    assert "real held-out" in report.table()


def test_eval_classes_command_writes_json_and_grid(stripes: Path, classifier: ImageClassifier, tmp_path: Path) -> None:
    torch.manual_seed(0)
    checkpoint = save_checkpoint(ClassConditional(tiny_cbn_config("generation")), tmp_path / "ckpt")
    classifier_folder = save_classifier(classifier, tmp_path / "classifier")
    arguments = ["eval-classes", "--checkpoint", str(checkpoint), "--data", str(stripes), "--classifier",
                 str(classifier_folder), "--metrics", "fidelity", "--json", str(tmp_path / "eval.json"),
                 "--grid", str(tmp_path / "grid.png"), "--grid-columns", "3", "--device", "cpu"]
    assert cli_main(arguments) == 0
    document = json.loads((tmp_path / "eval.json").read_text())
    assert document["classes"] == list(CLASSES) and document["mode"] == "generation"
    assert document["scores"][REAL_HELD_OUT_ROW]["mean"]["fidelity"] == 1.0
    from PIL import Image

    # 2 classes × 3 seeds of 16 px with 2 px gaps.
    assert Image.open(tmp_path / "grid.png").size == (3 * 18 + 2, 2 * 18 + 2)
    not_a_classifier = ["--classifier", str(tmp_path)]
    assert cli_main(["eval-classes", "--checkpoint", str(checkpoint), "--data", str(stripes), *not_a_classifier]) == 2
    # translate eval routes a cbn checkpoint here too.
    (tmp_path / "eval.json").unlink()
    assert cli_main(["eval", *arguments[1:]]) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["mode"] == "generation"


# ---------------------------------------------------------------------------------- CycleGAN, scored by class
class _Transpose(nn.Module):
    """A generator that swaps height and width: the true mapping between the two stripe classes."""

    size_multiple = 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.transpose(2, 3)


class _Unchanged(_Transpose):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images


def _stripes_cyclegan() -> CycleGAN:
    overrides = ["domain_a=horizontal", "domain_b=vertical", "data.image_size=16", "data.preprocess=crop",
                 "generator.ngf=4", "generator.n_blocks=1", "discriminator.ndf=4", "discriminator.n_layers=1"]
    return CycleGAN(apply_overrides(CycleGANConfig(), overrides)).eval()


def test_cyclegan_is_scored_with_its_domains_as_classes(stripes: Path, classifier: ImageClassifier) -> None:
    """Unpaired translation has no true output in general; its domains as classes, the scores
    still tell the true mapping from one that does nothing."""
    pipeline = _stripes_cyclegan()
    pipeline.generator_ab = pipeline.generator_ba = _Transpose()
    report = evaluate_classes(pipeline, stripes, classifier, inception=_pixel_features, kid_subsets=5)  # type: ignore[arg-type]
    assert report.pipeline == "cyclegan" and report.mode == "translation"
    assert report.classes == ["horizontal", "vertical"] and report.table().startswith("cyclegan translation")
    model, identity = report.scores[MODEL_ROW], report.scores[IDENTITY_ROW]
    # Each class's outputs are the other class's held-out images transposed: the true drawings.
    assert model["vertical"]["images"] == 8 and model[MEAN]["fidelity"] == 1.0
    assert model[MEAN]["l1"] == pytest.approx(0.0, abs=1e-6)
    # They are the held-out images of the class themselves (the classes are aligned): FID ≈ 0.
    assert identity[MEAN]["fidelity"] == 0.0 and model[MEAN]["fid"] < 1e-3 < identity[MEAN]["fid"]
    pipeline.generator_ab = pipeline.generator_ba = _Unchanged()
    unchanged = evaluate_classes(pipeline, stripes, classifier, inception=_pixel_features, kid_subsets=5)  # type: ignore[arg-type]
    assert unchanged.scores[MODEL_ROW][MEAN] == pytest.approx(unchanged.scores[IDENTITY_ROW][MEAN])
    # Each domain is reached through its own generator: horizontal → vertical is A→B.
    pipeline.generator_ab, pipeline.generator_ba = _Transpose(), _Unchanged()
    one_way = evaluate_classes(pipeline, stripes, classifier, metric_names=["fidelity"]).scores[MODEL_ROW]
    assert one_way["vertical"]["fidelity"] == 1.0 and one_way["horizontal"]["fidelity"] == 0.0


def test_cyclegan_grid_shows_input_translation_and_round_trip(stripes: Path) -> None:
    pipeline = _stripes_cyclegan()
    # A→B transposes, B→A leaves the image: rows from each domain tell the generators apart.
    pipeline.generator_ab, pipeline.generator_ba = _Transpose(), _Unchanged()
    grid = class_grid(pipeline, columns=4, data=stripes)
    assert grid.shape == (3, 4 * 18 + 2, 3 * 18 + 2)  # 4 inputs (2 per domain), 3 tiles each, 2 px gaps
    tile = lambda row, column: grid[:, 2 + 18 * row : 18 * (row + 1), 2 + 18 * column : 18 * (column + 1)]  # noqa: E731
    for row in range(4):
        # Rows alternate horizontal (A) and vertical (B) inputs. Both round trips transpose once.
        # Through the networks' [-1, 1] range and back: equal up to float rounding.
        translated = tile(row, 0).transpose(1, 2) if row % 2 == 0 else tile(row, 0)
        assert torch.allclose(tile(row, 1), translated, atol=1e-6)
        assert torch.allclose(tile(row, 2), tile(row, 0).transpose(1, 2), atol=1e-6)
    with pytest.raises(ValueError, match="class scores need a cbn or cyclegan checkpoint"):
        class_model(Pix2Pix(Pix2PixConfig()))


def test_translate_eval_scores_a_cyclegan_by_class_when_given_a_classifier(
    stripes: Path, classifier: ImageClassifier, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = save_checkpoint(_stripes_cyclegan(), tmp_path / "ckpt")
    classifier_folder = save_classifier(classifier, tmp_path / "classifier")
    arguments = ["eval", "--checkpoint", str(checkpoint), "--data", str(stripes), "--classifier",
                 str(classifier_folder), "--metrics", "fidelity", "--json", str(tmp_path / "eval.json"), "--device", "cpu"]
    assert cli_main(arguments) == 0
    document = json.loads((tmp_path / "eval.json").read_text())
    assert document["pipeline"] == "cyclegan" and document["classes"] == ["horizontal", "vertical"]
    assert document["scores"][IDENTITY_ROW]["mean"]["fidelity"] == 0.0
    # A classifier that does not know a domain is refused, naming the class and the ones it knows.
    other = save_checkpoint(CycleGAN(apply_overrides(CycleGANConfig(), ["domain_a=horizontal", "domain_b=diagonal"])),
                            tmp_path / "other")
    assert cli_main(["eval", "--checkpoint", str(other), *arguments[3:]]) == 2
    assert "does not know class 'diagonal' of the checkpoint; its classes: horizontal, vertical" in capsys.readouterr().err
