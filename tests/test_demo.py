"""`make demo`'s command: every shipped checkpoint converts its bundled examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from conftest import ROOT
from translate.checkpoint import read_checkpoint, shipped_checkpoints


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
        elif info.pipeline == "cbn":
            for source in info.config.classes:
                for target in info.config.classes:
                    if target != source:
                        _assert_converted(ROOT / "examples" / name / source, tmp_path / name / f"{source}2{target}")
        else:
            _assert_converted(ROOT / "examples" / name / "A", tmp_path / name)
        assert str(tmp_path / name) in result.stdout


def _assert_converted(inputs_folder: Path, outputs_folder: Path) -> None:
    """One output per input, of the input's stem and size."""
    inputs, outputs = sorted(inputs_folder.iterdir()), sorted(outputs_folder.iterdir())
    assert inputs and [p.stem for p in outputs] == [p.stem for p in inputs]
    for source, output in zip(inputs, outputs):
        assert Image.open(output).size == Image.open(source).size
