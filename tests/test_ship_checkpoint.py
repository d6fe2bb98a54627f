"""scripts/ship_checkpoint.py: a model below its shipping bar ships only when told why, and then says so."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import load_script, tiny_pix2pix_config
from translate import load_pipeline
from translate.checkpoint import read_checkpoint, save_checkpoint
from translate.config import apply_overrides
from translate.imageio import bicubic_resize, save_image
from translate.pipelines.pix2pix import Pix2Pix
from translate.pipelines.srgan import SRGAN, SRGANConfig


ship_script = load_script("ship_checkpoint")
KID_MISS = ship_script.bar_miss("kid", "identity", 0.0786, 0.0239)


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    """A checkpoint folder as shipping stages it, before its bar is checked."""
    return save_checkpoint(Pix2Pix(tiny_pix2pix_config()), tmp_path / "tiny", extra={"shipped": {"name": "tiny"}})


def test_a_miss_is_refused_with_its_figures_unless_a_reason_is_given(staged: Path) -> None:
    before = (staged / "config.json").read_text()
    for reason in (None, "  "):
        with pytest.raises(SystemExit, match=r"not shipped: KID×1000: model 78\.6, identity 23\.9.*--below-bar"):
            ship_script.accept_misses([KID_MISS], reason, "the held-out split", staged)
    assert (staged / "config.json").read_text() == before


def test_a_declared_miss_reaches_config_json_and_eval_json(staged: Path) -> None:
    recorded = ship_script.accept_misses([KID_MISS], " tried four recipes ", "the held-out split", staged)
    assert recorded == {"missed": [KID_MISS], "why_shipped": "tried four recipes"}
    document = json.loads((staged / "config.json").read_text())
    assert document["shipped"] == {"name": "tiny", "below_bar": [ship_script.describe_miss(KID_MISS)]}
    assert read_checkpoint(staged).below_bar == [ship_script.describe_miss(KID_MISS)]


def test_a_model_that_meets_its_bar_is_left_as_it_is(staged: Path) -> None:
    before = (staged / "config.json").read_text()
    assert ship_script.accept_misses([], None, "the held-out split", staged) == {}
    assert (staged / "config.json").read_text() == before and read_checkpoint(staged).below_bar == []
    with pytest.raises(SystemExit, match="meets its whole shipping bar"):
        ship_script.accept_misses([], "tried four recipes", "the held-out split", staged)


def test_misses_are_spelled_out_with_their_units_and_kind_of_bar() -> None:
    assert ship_script.describe_miss(KID_MISS) == (
        "KID×1000: model 78.6, identity 23.9; the bar asks the model to beat the identity"
    )
    assert ship_script.describe_miss(ship_script.bar_miss("psnr_y", "bicubic", 38.2, 37.75, 1.0)) == (
        "PSNR-Y: model 38.20 dB, bicubic 37.75 dB; the bar asks the model to beat bicubic by 1 dB"
    )
    assert ship_script.describe_miss(ship_script.bar_miss("fidelity", "0.8 × ceiling", 0.7, 0.78)) == (
        "class fidelity: model 0.700, 0.8 × ceiling 0.780; the bar asks the model to reach 0.8 × ceiling"
    )


def test_the_misses_head_the_card() -> None:
    section = ship_script.below_bar_section([KID_MISS], "tried four recipes")
    assert section.startswith("## Below the shipping bar\n") and section.endswith("Why it ships: tried four recipes\n\n")
    assert f"- {ship_script.describe_miss(KID_MISS)}\n" in section
    assert ship_script.below_bar_section([], None) == "" and ship_script.bar_line_note([]) == ""


def test_notes_make_their_own_section_only_when_given() -> None:
    assert ship_script.notes_section("  FID level with the SRResNet's.\n") == "## Notes\n\nFID level with the SRResNet's.\n\n"
    assert ship_script.notes_section(None) == "" and ship_script.notes_section(" ") == ""


def test_a_card_without_a_summary_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    save_checkpoint(Pix2Pix(tiny_pix2pix_config()), run / "final")
    info = read_checkpoint(run / "final")
    args = argparse.Namespace(run=run, name="tiny", description=None)
    with pytest.raises(SystemExit, match=r"run/final: the run has no description; pass --description"):
        ship_script.shipped_entries(info, args)
    args.description = "a tiny model"
    assert ship_script.shipped_entries(info, args)["description"] == "a tiny model"


def test_super_resolution_bars_psnr_for_the_pretrained_model_and_fid_for_the_adversarial_one() -> None:
    assert ship_script.shipping_bar("srgan", {"phase": "psnr"}, []) == (("psnr_y", "bicubic", 1.0),)
    # Fine-tuned with a discriminator, it may give up PSNR but must beat bicubic and its parent on FID.
    assert ship_script.shipping_bar("srgan", {"phase": "gan"}, ["SRResNet"]) == (
        ("fid", "bicubic", 0.0),
        ("fid", "SRResNet", 0.0),
    )
    with pytest.raises(SystemExit, match="--compare LABEL=CHECKPOINT"):
        ship_script.shipping_bar("srgan", {"phase": "gan"}, [])
    rows = {"model": {"psnr_y": 36.9, "fid": 40.0}, "bicubic": {"psnr_y": 37.75, "fid": 90.0}, "SRResNet": {"fid": 55.0}}
    assert all(ship_script.beats(rows, *entry) for entry in ship_script.shipping_bar("srgan", {"phase": "gan"}, ["SRResNet"]))
    assert not ship_script.beats(rows, "psnr_y", "bicubic", 1.0)


def test_the_super_resolution_picture_has_a_column_per_model_between_bicubic_and_the_original(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = apply_overrides(SRGANConfig(), ["scale=2", "generator.num_features=8", "generator.num_blocks=1"])
    pipes = [SRGAN(config).eval(), SRGAN(config).eval()]
    for index in range(3):
        high = torch.rand(3, 200, 180)
        save_image(high, tmp_path / "examples" / "B" / f"{index}.png")
        save_image(bicubic_resize(high, (100, 90)), tmp_path / "examples" / "A" / f"{index}.png")
    ship_script.super_resolution_grid(pipes, tmp_path / "examples", tmp_path / "grid.png", count=2)
    crop, padding = ship_script.SR_GRID_CROP, 2
    # Crops of 160 × 160 (the images are larger), 4 columns (bicubic, 2 models, original), 2 rows.
    assert Image.open(tmp_path / "grid.png").size == (4 * (crop + padding) + padding, 2 * (crop + padding) + padding)


def test_an_adversarial_model_must_be_compared_with_the_model_it_was_fine_tuned_from(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.manual_seed(0)
    tiny = ["scale=2", "generator.num_features=8", "generator.num_blocks=1"]
    psnr_config = apply_overrides(SRGANConfig(), tiny)
    parent = save_checkpoint(SRGAN(psnr_config), tmp_path / "runs" / "psnr" / "final")
    shipped_parent = save_checkpoint(load_pipeline(parent), tmp_path / "shipped", dtype=torch.float16)
    unrelated = save_checkpoint(SRGAN(psnr_config), tmp_path / "unrelated")
    gan = SRGAN(apply_overrides(SRGANConfig(), [*tiny, "phase=gan"]))
    model = read_checkpoint(save_checkpoint(gan, tmp_path / "gan", extra={"initialised_from": str(parent)}))

    ship_script.check_parent_compared(model, [("SRResNet", str(parent))])
    ship_script.check_parent_compared(model, [("SRResNet (fp16)", str(shipped_parent))])
    with pytest.raises(SystemExit, match=f"fine-tuned from {parent}, but no --compare checkpoint holds its weights"):
        ship_script.check_parent_compared(model, [("other", str(unrelated))])
    # A parent that is gone cannot be checked: said, not fatal. A model trained from scratch is not checked.
    orphan = read_checkpoint(save_checkpoint(gan, tmp_path / "orphan", extra={"initialised_from": str(tmp_path / "gone")}))
    ship_script.check_parent_compared(orphan, [("other", str(unrelated))])
    assert "cannot check that --compare holds the model this one was fine-tuned from" in capsys.readouterr().err
    scratch = read_checkpoint(save_checkpoint(gan, tmp_path / "scratch"))
    ship_script.check_parent_compared(scratch, [("other", str(unrelated))])


def test_a_ship_stopped_by_sigterm_leaves_the_shipped_folders_and_no_staging(tmp_path: Path) -> None:
    """The end of a session sends SIGTERM: the old checkpoint and examples stay, whole."""
    shipped, bundled = tmp_path / "checkpoints" / "m", tmp_path / "examples" / "m"
    for folder in (shipped, bundled):
        folder.mkdir(parents=True)
        (folder / "old.txt").write_text("old")

    def build(destination: Path, examples: Path) -> float:
        (destination / "new.txt").write_text("half")
        (examples / "new.png").write_text("half")
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the build")

    with pytest.raises(KeyboardInterrupt):
        ship_script.ship_atomically(shipped, bundled, build)
    for folder in (shipped, bundled):
        assert sorted(p.name for p in folder.parent.iterdir()) == ["m"]
        assert [p.name for p in folder.iterdir()] == ["old.txt"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored

    def complete(destination: Path, examples: Path) -> float:
        (destination / "config.json").write_text("{}")
        return 1.5

    assert ship_script.ship_atomically(shipped, bundled, complete) == 1.5
    assert [p.name for p in shipped.iterdir()] == ["config.json"]
    assert list(bundled.parent.iterdir()) == []  # no staging left, and the old model's examples gone


def _log(run: Path, seconds: list[float]) -> None:
    rows = "".join(f"{10 * i},{t},16.0\n" for i, t in enumerate(seconds))
    (run / "log.csv").write_text("step,time,images_per_s\n" + rows)


def test_a_fine_tuned_card_counts_every_run_behind_the_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tiny = apply_overrides(SRGANConfig(), ["scale=2", "generator.num_features=8", "generator.num_blocks=1"])
    first = save_checkpoint(SRGAN(tiny), tmp_path / "first" / "final", extra={"training": {"step": 4000}})
    _log(first.parent, list(range(0, 3601, 300)))  # one hour, logged every 5 minutes
    second = save_checkpoint(SRGAN(tiny), tmp_path / "second" / "final",
                             extra={"training": {"step": 3000}, "initialised_from": str(first)})
    _log(second.parent, [*range(0, 1801, 300), 5000])  # the gap of 3,200 s is a pause between sessions: half an hour
    third = save_checkpoint(SRGAN(tiny), tmp_path / "third" / "final",
                            extra={"training": {"step": 1000}, "initialised_from": str(second)})
    _log(third.parent, [0, 360])

    links = ship_script.lineage(read_checkpoint(third))
    assert [(link["steps"], round(link["hours"], 2)) for link in links] == [(4000, 1.0), (3000, 0.5), (1000, 0.1)]
    line = ship_script.lineage_line(links)
    assert line.startswith(f"- With the runs it was fine-tuned from: `{first}` (4,000 steps, 1.00 h) → `{second}`")
    assert line.endswith("; 8,000 steps and 1.60 hours in all.\n")

    # A parent that is gone ends the chain, named, and no total is claimed for what cannot be counted.
    orphan = save_checkpoint(SRGAN(tiny), tmp_path / "orphan" / "final",
                             extra={"training": {"step": 500}, "initialised_from": str(tmp_path / "gone")})
    _log(orphan.parent, [0, 360])
    line = ship_script.lineage_line(ship_script.lineage(read_checkpoint(orphan)))
    assert f"`{tmp_path / 'gone'}` (steps unknown)" in line and "in all" not in line
    # A model trained from scratch has no such line.
    assert ship_script.lineage_line(ship_script.lineage(read_checkpoint(first))) == ""

    # A shipped parent carries the chain behind it (recorded when it shipped), so the chain
    # outlives the parent's runs; the walk stops there and names what it shipped as.
    recorded = [{"path": "runs/a/final", "steps": 4000, "hours": 0.84}, {"path": "runs/b/final", "steps": 4000, "hours": 0.78}]
    shipped = save_checkpoint(SRGAN(tiny), tmp_path / "checkpoints" / "tiny-sr", extra={
        "training": {"step": 4000}, "initialised_from": "runs/a/final",
        "shipped": {"name": "tiny-sr", "lineage": recorded}})
    child = save_checkpoint(SRGAN(tiny), tmp_path / "child" / "final",
                            extra={"training": {"step": 1000}, "initialised_from": str(shipped)})
    _log(child.parent, [0, 360])
    links = ship_script.lineage(read_checkpoint(child))
    assert [link["path"] for link in links] == ["runs/a/final", "runs/b/final", str(child)]
    line = ship_script.lineage_line(links)
    assert "`runs/b/final` (4,000 steps, 0.78 h; shipped as `tiny-sr`) → " in line
    assert line.endswith("; 9,000 steps and 1.72 hours in all.\n")
