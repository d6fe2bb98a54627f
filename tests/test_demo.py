"""`make demo`'s command: every shipped checkpoint converts its bundled examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from conftest import ROOT
from translate.checkpoint import read_checkpoint, shipped_checkpoints
from translate.infer import CONVERSION_RECORD


def test_demo_converts_every_shipped_checkpoints_examples(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = [name for name, path in shipped_checkpoints().items() if path.parent == ROOT / "checkpoints"]
    assert names
    for name in names:
        info = read_checkpoint(name)
        if info.pipeline == "cbn" and info.config.mode == "generation":
            for target in info.config.classes:
                assert len(list((tmp_path / name / target).glob("seed_*.png"))) == 8
        elif info.pipeline == "cbn" or (
            info.pipeline == "cyclegan" and not (ROOT / "examples" / name / "A").is_dir()
        ):
            classes = info.config.classes if info.pipeline == "cbn" else [info.config.domain_a, info.config.domain_b]
            for source in classes:
                for target in classes:
                    if target != source:
                        _assert_converted(ROOT / "examples" / name / source, tmp_path / name / f"{source}2{target}")
        else:
            _assert_converted(ROOT / "examples" / name / "A", tmp_path / name, scale=info.metadata.get("scale", 1))
        lines = [line for line in result.stdout.splitlines() if line.startswith(f"  {tmp_path / name}/")]
        assert lines, f"{name}'s results are not listed"
        # A checkpoint shipped below its bar says so beside its results (scripts/ship_checkpoint.py --below-bar).
        assert all(("below its shipping bar" in line) == bool(info.below_bar) for line in lines), lines


def _assert_converted(inputs_folder: Path, outputs_folder: Path, scale: int = 1) -> None:
    """One output per input, of the input's stem and its size times the checkpoint's scale (beside
    convert's record of what made them)."""
    inputs = sorted(inputs_folder.iterdir())
    outputs = sorted(p for p in outputs_folder.iterdir() if p.name != CONVERSION_RECORD)
    assert (outputs_folder / CONVERSION_RECORD).is_file()
    assert inputs and [p.stem for p in outputs] == [p.stem for p in inputs]
    for source, output in zip(inputs, outputs):
        width, height = Image.open(source).size
        assert Image.open(output).size == (width * scale, height * scale)


def test_demo_redraws_class_examples_of_translation_checkpoints(tmp_path: Path) -> None:
    """The branches no shipped checkpoint exercises yet: a cbn translation model redraws each
    class's examples in every other class, a CycleGAN with examples per domain translates each
    into the other by name (horse2zebra); an unknown --checkpoint is refused."""
    import numpy as np

    from test_cbn import tiny_cbn_config
    from test_cyclegan import tiny_cyclegan_config
    from translate.checkpoint import save_checkpoint
    from translate.pipelines.cbn import ClassConditional
    from translate.pipelines.cyclegan import CycleGAN

    shipped, examples = tmp_path / "shipped", tmp_path / "examples"
    save_checkpoint(ClassConditional(tiny_cbn_config("translation")), shipped / "tiny-styles")
    save_checkpoint(CycleGAN(tiny_cyclegan_config("domain_a=horse", "domain_b=zebra")), shipped / "tiny-horse2zebra")
    rng = np.random.default_rng(0)
    folders = {"tiny-styles": ("horizontal", "vertical"), "tiny-horse2zebra": ("horse", "zebra")}
    for name, classes in folders.items():
        for index, label in enumerate(classes):
            (examples / name / label).mkdir(parents=True)
            for image in range(index + 1):  # a different count per class: each folder is its own input
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(examples / name / label / f"{label}{image}.png")
    command = [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(tmp_path / "out"),
               "--examples", str(examples)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSLATE_CHECKPOINTS": str(shipped)}
    result = subprocess.run(command + ["--checkpoint", "tiny-styles", "--checkpoint", "tiny-horse2zebra"],
                            capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, (first, second) in folders.items():
        for source, target in ((first, second), (second, first)):
            _assert_converted(examples / name / source, tmp_path / "out" / name / f"{source}2{target}")
    assert "--direction horse2zebra" in result.stdout and "--class vertical" in result.stdout
    refused = subprocess.run(command + ["--checkpoint", "nope"], capture_output=True, text=True, timeout=600,
                             env=environment)
    assert refused.returncode == 2 and "nope is not a shipped checkpoint" in refused.stderr
