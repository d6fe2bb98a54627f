"""The shipped checkpoints: they load, are small fp16 files, and reproduce their model cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from conftest import ROOT, load_script
from translate import load_pipeline
from translate.checkpoint import read_checkpoint, save_checkpoint, shipped_checkpoints
from translate.class_eval import examples_scores, sample_fidelity
from translate.classifier import load_classifier
from translate.evaluate import MODEL_ROW, evaluate_checkpoint
from translate.metrics import psnr

describe_miss = load_script("ship_checkpoint").describe_miss  # how the card and config.json word a miss

SHIPPED = {name: path for name, path in shipped_checkpoints().items() if path.parent == ROOT / "checkpoints"}
# Guards against a checkpoint lost from the tree; every shipped one is covered by the
# parametrised tests.
EXPECTED = {
    "edges2emoji-pix2pix",
    "emoji-noto2openmoji-pix2pix",
    "emoji-noto2openmoji-cyclegan",
    "animals-cbn",
    "emoji-styles-cbn",
    "horse2zebra-cyclegan",
    "photo-x4-srresnet",
    "photo-x4-srgan",
}


def test_the_promised_checkpoints_are_shipped() -> None:
    assert EXPECTED <= set(SHIPPED), f"missing: {sorted(EXPECTED - set(SHIPPED))}"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_checkpoint_is_a_small_fp16_folder_with_a_model_card(name: str) -> None:
    folder = SHIPPED[name]
    weights = folder / "model.safetensors"
    assert weights.stat().st_size <= 20 * 1024 * 1024
    with safe_open(str(weights), "pt") as handle:
        dtypes = {handle.get_tensor(key).dtype for key in handle.keys()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    info = read_checkpoint(name)
    assert info.raw["description"] and (folder / "README.md").is_file()
    evaluation = json.loads((folder / "eval.json").read_text())
    assert evaluation["fp16_min_psnr_db"] >= 45.0
    card = (folder / "README.md").read_text()
    bar = ShippingBar(evaluation, card, info.below_bar)
    if "means" in evaluation:
        # Scored by class (cbn; a CycleGAN on class folders): scripts/ship_checkpoint.py's bar,
        # fidelity near the classifier's ceiling, and a translation model beats doing nothing.
        means = evaluation["means"]
        fidelity, ceiling = means[MODEL_ROW]["fidelity"], means["real held-out"]["fidelity"]
        bar.holds("fidelity", "0.8 × ceiling", fidelity, 0.8 * ceiling, fidelity >= 0.8 * ceiling)
        if "identity" in means:
            model, identity = means[MODEL_ROW], means["identity"]
            bar.holds("kid", "identity", model["kid"], identity["kid"], model["kid"] < identity["kid"])
            if "l1" in means[MODEL_ROW]:  # aligned classes: the true drawing is known
                bar.holds("l1", "identity", model["l1"], identity["l1"], model["l1"] < identity["l1"])
        assert "(ceiling)" in card and "(floor)" in card
        assert (folder / "classifier" / "config.json").is_file()
        bar.all_declared_misses_checked()
        return
    rows = evaluation["test"]["rows"]
    assert "| identity |" in card
    if info.pipeline == "srgan":
        # scripts/ship_checkpoint.py's bars for super-resolution on held-out photographs (1.0 dB:
        # its SR_PSNR_MARGIN_DB, the bar, repeated here so that lowering it there fails here).
        assert "| bicubic |" in card
        if info.config.phase == "psnr":
            sr_psnr, bicubic_psnr = rows[MODEL_ROW]["psnr_y"], rows["bicubic"]["psnr_y"]
            bar.holds("psnr_y", "bicubic", sr_psnr, bicubic_psnr, sr_psnr >= bicubic_psnr + 1.0)
        else:  # adversarial: better FID than bicubic and than the PSNR model it was fine-tuned from
            compared = set(rows) - {MODEL_ROW, "identity", "bicubic"}
            assert compared, "a gan-phase card compares with its psnr-phase model"
            for row in sorted(compared | {"bicubic"}):
                bar.holds("fid", row, rows[MODEL_ROW]["fid"], rows[row]["fid"], rows[MODEL_ROW]["fid"] < rows[row]["fid"])
        bar.all_declared_misses_checked()
        return
    model, identity = rows[MODEL_ROW], rows["identity"]
    bar.holds("kid", "identity", model["kid"], identity["kid"], model["kid"] < identity["kid"])
    if info.pipeline == "pix2pix":
        # The shipping bar (scripts/ship_checkpoint.py explains why KID against the nearest
        # neighbour, real target drawings, is reported rather than required).
        assert "| nearest-neighbour |" in card
        bar.holds("l1", "identity", model["l1"], identity["l1"], model["l1"] < identity["l1"])
        neighbour = rows["nearest-neighbour"]
        bar.holds("l1", "nearest-neighbour", model["l1"], neighbour["l1"], model["l1"] < neighbour["l1"])
    bar.all_declared_misses_checked()


class ShippingBar:
    """Each comparison of a shipped model's bar holds, or is a miss it was shipped with on purpose
    (scripts/ship_checkpoint.py --below-bar): recorded in eval.json with the figures of its tables,
    and the same lines at the top of its model card and in config.json, where `translate
    checkpoints`, `make demo` and the demo pages read them. A model that meets its bar has none."""

    def __init__(self, evaluation: dict, card: str, below_bar: list[str]) -> None:
        bar = evaluation.get("bar", {})  # cards shipped before the bar was recorded met it whole
        self.declared = {(miss["metric"], miss["baseline"]): miss for miss in bar.get("missed", [])}
        self.reason, self.card, self.listed = bar.get("why_shipped"), card, below_bar
        self.checked: set[tuple[str, str]] = set()

    def holds(self, metric: str, baseline: str, model: float, other: float, held: bool) -> None:
        """``held``: whether the model's ``model`` beats ``baseline``'s ``other`` on ``metric``."""
        key = (metric, baseline)
        self.checked.add(key)
        if key not in self.declared:
            assert held, f"{metric} does not beat {baseline}, and the checkpoint does not declare that miss"
            return
        assert not held, f"{metric} against {baseline} is declared missed but holds: re-ship it without --below-bar"
        miss = self.declared[key]  # the figures of the tables, not others
        assert (miss["model"], miss["baseline_value"]) == (pytest.approx(model), pytest.approx(other))

    def all_declared_misses_checked(self) -> None:
        assert set(self.declared) <= self.checked, f"declared misses of no bar: {sorted(set(self.declared) - self.checked)}"
        lines = [describe_miss(miss) for miss in self.declared.values()]
        assert self.listed == lines, "config.json's shipped.below_bar differs from eval.json's misses"
        assert ("## Below the shipping bar" in self.card) == bool(lines) == bool(self.reason)
        for line in lines:
            assert f"- {line}\n" in self.card
        if self.reason:
            assert f"Why it ships: {self.reason}" in self.card


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_checkpoint_reproduces_its_model_card_on_the_bundled_examples(name: str) -> None:
    recorded = json.loads((SHIPPED[name] / "eval.json").read_text())["examples"]
    pipeline = load_pipeline(name)
    if pipeline.name == "cbn" and pipeline.mode == "generation":  # type: ignore[attr-defined]
        classifier = load_classifier(SHIPPED[name] / "classifier")
        found = sample_fidelity(pipeline, classifier, recorded["per_class"], seed=recorded["seed"])  # type: ignore[arg-type]
        assert found == pytest.approx(recorded["fidelity"], abs=0.02)
        return
    examples = ROOT / recorded["folder"]
    if pipeline.name == "cbn" or "per_class" in recorded:  # translation scored by class
        assert "change" in recorded, f"{name}: an older examples record; re-ship it with scripts/ship_checkpoint.py"
        found = examples_scores(pipeline, examples, load_classifier(SHIPPED[name] / "classifier"))
        assert found["pairs"] == recorded["pairs"]
        assert found["change"] == pytest.approx(recorded["change"], rel=0.02)
        assert found["fidelity"] == pytest.approx(recorded["fidelity"], abs=0.02)
        if "l1" in recorded:
            assert found["l1"] == pytest.approx(recorded["l1"], rel=0.02)
        return
    # 16 held-out pairs, 8 for super-resolution (each one a full high-resolution photo crop).
    bundled = 8 if pipeline.name == "srgan" else 16
    assert len(list((examples / "A").iterdir())) == recorded["images"] == bundled
    report = evaluate_checkpoint(name, examples, metric_names=["l1"])
    assert report.images == bundled
    assert report.rows[MODEL_ROW]["l1"] == pytest.approx(recorded["l1"], rel=0.02)


def test_fp16_storage_stays_within_45_db_of_fp32(tmp_path: Path) -> None:
    """What shipping does to weights (fp32 → fp16 file → fp32 network) on a trained shipped model."""
    reference = load_pipeline("edges2emoji-pix2pix")
    # Perturb the fp16-exact weights off the fp16 grid, as fresh fp32 training weights are.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in reference.generator.parameters():
            parameter.mul_(1 + 1e-3 * torch.rand(parameter.shape, generator=generator))
    save_checkpoint(reference, tmp_path / "fp32", dtype=torch.float32)
    save_checkpoint(reference, tmp_path / "fp16", dtype=torch.float16)
    full, half = load_pipeline(tmp_path / "fp32"), load_pipeline(tmp_path / "fp16")
    images = torch.rand(4, full.input_channels, 64, 64, generator=generator)
    assert float(psnr(half(images), full(images)).min()) >= 45.0
