"""scripts/ship_checkpoint.py: a model below its shipping bar ships only when told why, and then says so."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from conftest import ROOT, tiny_pix2pix_config
from translate.checkpoint import read_checkpoint, save_checkpoint
from translate.pipelines.pix2pix import Pix2Pix


def _load_script():
    spec = importlib.util.spec_from_file_location("ship_checkpoint", ROOT / "scripts" / "ship_checkpoint.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ship = _load_script()
KID_MISS = ship.bar_miss("kid", "identity", 0.0886, 0.0239)


def test_a_miss_is_refused_with_its_figures_unless_a_reason_is_given() -> None:
    with pytest.raises(SystemExit, match=r"not shipped: KID×1000: model 88\.6, identity 23\.9.*--below-bar"):
        ship.check_bar([KID_MISS], None, "the held-out split")
    ship.check_bar([KID_MISS], "tried four recipes", "the held-out split")  # declared: ships
    ship.check_bar([], None, "the held-out split")  # meets its bar


def test_a_reason_without_a_miss_is_refused() -> None:
    with pytest.raises(SystemExit, match="meets its whole shipping bar"):
        ship.check_bar([], "tried four recipes", "the held-out split")


def test_margins_and_scales_are_spelled_out() -> None:
    miss = ship.bar_miss("psnr_y", "bicubic", 38.2, 37.75, 1.0)
    assert ship.describe_miss(miss) == (
        "PSNR-Y: model 38.20 dB, bicubic 37.75 dB; the bar asks the model to beat bicubic by 1"
    )


def test_the_misses_head_the_card_and_reach_config_json(tmp_path: Path) -> None:
    folder = save_checkpoint(Pix2Pix(tiny_pix2pix_config()), tmp_path / "tiny", extra={"shipped": {"name": "tiny"}})
    ship.record_below_bar(folder, [KID_MISS])
    document = json.loads((folder / "config.json").read_text())
    assert document["shipped"] == {"name": "tiny", "below_bar": [ship.describe_miss(KID_MISS)]}
    section = ship.below_bar_section([KID_MISS], "tried four recipes")
    assert section.startswith("## Below the shipping bar\n") and section.endswith("tried four recipes\n\n")
    assert ship.describe_miss(KID_MISS) in section
    assert ship.below_bar_section([], None) == ""
    before = (folder / "config.json").read_text()
    ship.record_below_bar(folder, [])  # a model that meets its bar keeps its config untouched
    assert (folder / "config.json").read_text() == before


def test_a_card_without_a_summary_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    save_checkpoint(Pix2Pix(tiny_pix2pix_config()), run / "final")
    info = read_checkpoint(run / "final")
    args = argparse.Namespace(run=run, name="tiny", description=None)
    with pytest.raises(SystemExit, match=r"run/final: the run has no description; pass --description"):
        ship.shipped_entries(info, args)
    args.description = "a tiny model"
    assert ship.shipped_entries(info, args)["description"] == "a tiny model"
