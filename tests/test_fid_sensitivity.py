"""scripts/fid_sensitivity.py: the scores of outputs and of their content-blind edits, and errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import load_script
from translate.imageio import bicubic_resize, save_image, to_8bit_levels

sensitivity = load_script("fid_sensitivity")


def _folders(root: Path, count: int = 4, size: int = 48) -> tuple[Path, Path]:
    generator = torch.Generator().manual_seed(0)
    real, fake = root / "real", root / "fake"
    for index in range(count):
        coarse = torch.rand(1, 3, 8, 8, generator=generator)
        target = to_8bit_levels(bicubic_resize(coarse, (size, size))[0].clamp(0, 1))
        save_image(target, real / f"crop{index}.png")
        save_image(to_8bit_levels((target * 0.5 + 0.25)), fake / f"crop{index}.png")
    return real, fake


def test_every_edit_is_scored_and_the_targets_sit_nearest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, fake = _folders(tmp_path)
    assert sensitivity.main(["--real", str(real), "--fake", str(fake), "--json", str(tmp_path / "scores.json")]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())["scores"]
    edits = [f"outputs, {name}" for name in sensitivity.EDITS]
    assert list(scores) == ["outputs", *edits, "targets, noise 1 level", "targets, blur 0.7"]
    assert all(set(row) == {"psnr_y", "fid", "kid", "kid_std"} for row in scores.values())
    # Faint noise on the targets is nearly the targets; the dimmed outputs are far from them.
    assert scores["targets, noise 1 level"]["psnr_y"] > 45 > 30 > scores["outputs"]["psnr_y"]
    assert scores["targets, noise 1 level"]["fid"] < scores["outputs"]["fid"]
    # The edits change the images: noise costs PSNR against the unedited outputs' own targets.
    assert scores["outputs, noise 2 levels"]["psnr_y"] != scores["outputs"]["psnr_y"]
    assert "4 outputs in" in capsys.readouterr().out


def test_an_output_without_its_target_or_of_another_size_is_named(tmp_path: Path) -> None:
    real, fake = _folders(tmp_path, count=3)
    (real / "crop1.png").unlink()
    with pytest.raises(SystemExit, match=r"fake/crop1.png: no target of the same name in .*real"):
        sensitivity.main(["--real", str(real), "--fake", str(fake)])
    save_image(torch.zeros(3, 40, 48), real / "crop1.png")
    with pytest.raises(SystemExit, match=r"fake/crop1.png: \(48, 48\) pixels, its target .*crop1.png \(40, 48\)"):
        sensitivity.main(["--real", str(real), "--fake", str(fake)])
    with pytest.raises(SystemExit, match="missing: not a folder"):
        sensitivity.main(["--real", str(real), "--fake", str(tmp_path / "missing")])
