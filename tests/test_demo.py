"""`make demo`'s command: every shipped checkpoint converts its bundled examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from conftest import ROOT
from translate.checkpoint import shipped_checkpoints


def test_demo_converts_every_shipped_checkpoints_examples(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = [name for name, path in shipped_checkpoints().items() if path.parent == ROOT / "checkpoints"]
    assert names
    for name in names:
        inputs = sorted((ROOT / "examples" / name / "A").iterdir())
        outputs = sorted((tmp_path / name).iterdir())
        assert [p.stem for p in outputs] == [p.stem for p in inputs]
        for source, output in zip(inputs, outputs):
            assert Image.open(output).size == Image.open(source).size
        assert str(tmp_path / name) in result.stdout
