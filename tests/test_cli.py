"""The CLI in subprocesses: train, resume, convert, list checkpoints; exit codes and messages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, TINY_PIX2PIX, tiny_pix2pix_config
from translate.checkpoint import save_checkpoint
from translate.pipelines.pix2pix import Pix2Pix

TINY_FLAGS = [arg for key in TINY_PIX2PIX for arg in ("--set", key)]


def translate(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "translate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_train_resume_and_convert_a_folder(paired_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["train", "pix2pix", "--data", str(paired_folder), "--out", str(run), *TINY_FLAGS, "--workers", "0"]
    first = translate(*common, "--steps", "3", "--batch-size", "2", "--precision", "fp32", "--description", "tiny test")
    assert first.returncode == 0, first.stderr
    assert (run / "final" / "model.safetensors").is_file() and (run / "run.json").is_file()

    again = translate(*common, "--steps", "3")
    assert again.returncode == 2 and "already holds a run; pass --resume" in again.stderr

    resumed = translate("train", "pix2pix", "--out", str(run), "--resume", "--steps", "5")
    assert resumed.returncode == 0, resumed.stderr
    config = json.loads((run / "final" / "config.json").read_text())
    assert config["training"]["step"] == 5 and config["training"]["data"]["pairs"] == 6
    assert config["description"] == "tiny test"  # what the run was started with outlives a resume

    # So does the checkpoint a fine-tuning started from.
    tuned = tmp_path / "tuned"
    started = translate("train", "pix2pix", "--data", str(paired_folder), "--out", str(tuned), "--init", str(run / "final"),
                        "--steps", "2", "--workers", "0", "--precision", "fp32")
    assert started.returncode == 0, started.stderr
    resumed = translate("train", "pix2pix", "--out", str(tuned), "--resume", "--steps", "3", "--description", "tuned")
    assert resumed.returncode == 0, resumed.stderr
    config = json.loads((tuned / "final" / "config.json").read_text())
    assert (config["description"], config["initialised_from"]) == ("tuned", str(run / "final"))

    inputs = tmp_path / "inputs"
    (inputs / "nested").mkdir(parents=True)
    Image.fromarray(np.zeros((30, 45, 3), np.uint8)).save(inputs / "one.jpg")
    Image.fromarray(np.zeros((17, 20), np.uint8)).save(inputs / "nested" / "two.png")
    out = tmp_path / "out"
    converted = translate("convert", "--checkpoint", str(run / "final"), str(inputs), str(out), "--quiet")
    assert converted.returncode == 0, converted.stderr
    assert Image.open(out / "one.jpg").size == (45, 30)
    assert Image.open(out / "nested" / "two.png").size == (20, 17)
    assert "converted 2, skipped 0, failed 0" in converted.stderr
    # No temporary files left; the one hidden file is the record of what made the folder.
    assert [p.name for p in out.rglob("*") if p.name.startswith(".")] == [".translate-convert.json"]


def test_convert_reports_bad_files_and_goes_on(tmp_path: Path) -> None:
    checkpoint = save_checkpoint(Pix2Pix(tiny_pix2pix_config()), tmp_path / "ckpt")
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (32, 32), "red").save(inputs / "good.png")
    (inputs / "bad.png").write_bytes(b"this is not a png")
    result = translate("convert", "--checkpoint", str(checkpoint), str(inputs), str(tmp_path / "out"), "--quiet")
    assert result.returncode == 1
    assert "bad.png" in result.stderr and "converted 1, skipped 0, failed 1" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".translate-convert.json", "good.png"]


def test_usage_errors_exit_2_with_the_reason(tmp_path: Path) -> None:
    missing = translate("train", "pix2pix", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run"))
    assert missing.returncode == 2 and "nope: no such data folder" in missing.stderr

    bad_key = translate("train", "pix2pix", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--set", "g.ngf=3")
    assert bad_key.returncode == 2 and "unknown config key 'g.ngf'" in bad_key.stderr

    unknown = translate("train", "pixtopix", "--data", str(tmp_path), "--out", str(tmp_path / "r"))
    assert unknown.returncode == 2 and "choose one of: " in unknown.stderr

    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "config.json").write_text("{")
    damaged = translate("convert", "--checkpoint", str(tmp_path / "damaged"), str(tmp_path), str(tmp_path / "o"))
    assert damaged.returncode == 2 and "config.json: damaged" in damaged.stderr

    no_input = translate("convert", "--checkpoint", str(tmp_path / "damaged"), str(tmp_path / "x"), str(tmp_path / "o"))
    assert no_input.returncode == 2


def test_train_help_lists_every_config_key() -> None:
    result = translate("train", "pix2pix", "--help")
    assert result.returncode == 0
    for key in ("generator.ngf", "discriminator.spectral_norm", "loss.gan", "optim.lr_policy", "data.preprocess"):
        assert key in result.stdout


def test_shipped_names_resolve_and_list(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    save_checkpoint(Pix2Pix(tiny_pix2pix_config()), shipped / "tiny-pix2pix", extra={"description": "a tiny test model"})
    env = {"TRANSLATE_CHECKPOINTS": str(shipped)}
    listing = translate("checkpoints", env=env)
    assert listing.returncode == 0 and "tiny-pix2pix" in listing.stdout and "a tiny test model" in listing.stdout
    # A model shipped below its bar (scripts/ship_checkpoint.py --below-bar) says so in the listing,
    # on the line under its own; one that meets its bar does not.
    miss = "KID×1000: model 78.6, identity 23.9; the bar asks the model to beat the identity"
    save_checkpoint(Pix2Pix(tiny_pix2pix_config()), shipped / "tiny-below", extra={"shipped": {"below_bar": [miss]}})
    lines = translate("checkpoints", env=env).stdout.splitlines()
    below = next(i for i, line in enumerate(lines) if line.startswith("tiny-below "))
    assert lines[below + 1].strip() == f"below its shipping bar: {miss}"
    meets = next(i for i, line in enumerate(lines) if line.startswith("tiny-pix2pix "))
    assert not any("below its shipping bar" in line for line in lines[meets + 1 : meets + 2])
    rows = {row["name"]: row for row in json.loads(translate("checkpoints", "--json", env=env).stdout)}
    assert rows["tiny-below"]["below_bar"] == [miss] and rows["tiny-pix2pix"]["below_bar"] == []
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    result = translate("convert", "--checkpoint", "tiny-pix2pix", str(tmp_path / "x.png"), str(tmp_path / "y.png"), env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "y.png").is_file()


def test_a_reader_that_stops_early_ends_the_command_quietly() -> None:
    """`translate checkpoints | head -0`: the pipe's reader is gone before anything is written.
    The command stops with the shell's SIGPIPE status and no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "translate", "checkpoints"], stdout=write_end, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, timeout=300,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the package files")
def test_shipped_checkpoints_travel_in_a_non_editable_install(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT / "translate", source / "translate", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    save_checkpoint(Pix2Pix(tiny_pix2pix_config()), source / "checkpoints" / "tiny-pix2pix")
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "from translate.checkpoint import resolve_checkpoint; print(resolve_checkpoint('tiny-pix2pix'))"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(site / "translate" / "_shipped"))


def test_stop_signal_to_the_whole_process_group_still_saves_a_checkpoint(paired_folder: Path, tmp_path: Path) -> None:
    """The end of a session or `kill -- -PGID` signals the data-loading workers too; the run
    must still stop with a checkpoint it can resume from, not die of a killed worker."""
    import signal
    import time

    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "translate", "train", "pix2pix", "--data", str(paired_folder), "--out", str(out),
         "--steps", "100000", "--workers", "2", "--log-every", "1", "--sample-every", "0",
         "--precision", "fp32", "--memory-format", "contiguous", "--checkpoint-minutes", "1000"]
        + [f"--set={item}" for item in TINY_PIX2PIX],
        stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 240
    for line in process.stderr:  # wait until steps are running (workers started)
        if line.startswith("step 3/") or time.monotonic() > deadline:
            break
    os.killpg(process.pid, signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 128 + signal.SIGTERM, rest
    assert "DataLoader worker" not in rest
    assert any((out / "checkpoints").glob("step_*")), rest
