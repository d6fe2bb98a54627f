"""Paired datasets: both layouts, aligned transforms, determinism, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translate.data import DataConfig, DatasetError, PairedDataset, ResumableSampler, find_pairs


def _same_pair_folder(root: Path, count: int = 3, size: int = 40) -> Path:
    """A/ and B/ hold the same random image, so any misalignment shows as A != B."""
    rng = np.random.default_rng(0)
    for index in range(count):
        array = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
        for side in "AB":
            (root / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / side / f"{index}.png")
    return root


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "crop", "scale_width"])
def test_pairs_get_the_same_crop_and_flip(tmp_path: Path, preprocess: str) -> None:
    root = _same_pair_folder(tmp_path / "same")
    config = DataConfig(image_size=16, preprocess=preprocess)  # type: ignore[arg-type]
    dataset = PairedDataset(root, 3, 3, config, train=True)
    for draw in range(12):
        item = dataset[(draw % 3, draw)]
        assert item["a"].shape == (3, 16, 16)
        assert torch.equal(item["a"], item["b"])


def test_draws_are_deterministic_per_seed_and_differ_between_seeds(tmp_path: Path) -> None:
    root = _same_pair_folder(tmp_path / "same")
    dataset = PairedDataset(root, 3, 3, DataConfig(image_size=16, preprocess="crop"), train=True)
    assert torch.equal(dataset[(0, 5)]["a"], dataset[(0, 5)]["a"])
    crops = {dataset[(0, seed)]["a"].sum().item() for seed in range(8)}
    assert len(crops) > 1


def test_aligned_layout_splits_halves_and_uses_train_split(aligned_folder: Path) -> None:
    pairs, layout = find_pairs(aligned_folder / "train")
    assert layout == "aligned" and len(pairs) == 6
    dataset = PairedDataset(aligned_folder, 3, 3, DataConfig(image_size=32, preprocess="none"), train=True)
    assert dataset.root.name == "train"
    item = dataset[(0, 0)]
    # B is the colour inverse of A in the fixture (up to flips applied to both).
    assert torch.allclose(item["a"] + item["b"], torch.ones_like(item["a"]), atol=1 / 255)
    held_out = PairedDataset(aligned_folder, 3, 3, DataConfig(image_size=32), train=False)
    assert held_out.root.name == "test" and len(held_out) == 2


def test_channels_follow_the_policy(paired_folder: Path) -> None:
    dataset = PairedDataset(paired_folder, 1, 3, DataConfig(image_size=32, preprocess="none"), train=False)
    item = dataset[(0, 0)]
    assert item["a"].shape == (1, 32, 32) and item["b"].shape == (3, 32, 32)


def test_unreadable_files_are_reported_and_skipped(paired_folder: Path, capsys: pytest.CaptureFixture) -> None:
    (paired_folder / "A" / "broken.png").write_bytes(b"not an image")
    (paired_folder / "B" / "broken.png").write_bytes(b"not an image")
    (paired_folder / "A" / "empty.png").write_bytes(b"")
    (paired_folder / "B" / "empty.png").write_bytes(b"")
    dataset = PairedDataset(paired_folder, 3, 3, DataConfig(image_size=32, preprocess="crop"))
    assert len(dataset) == 6 and len(dataset.skipped) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "empty.png: empty file" in err and "skipped 2 unreadable" in err


def test_truncated_file_found_while_training_is_replaced_not_fatal(paired_folder: Path, capsys: pytest.CaptureFixture) -> None:
    path = paired_folder / "A" / "img00.png"
    path.write_bytes(path.read_bytes()[:-60])  # header fine, data cut
    dataset = PairedDataset(paired_folder, 3, 3, DataConfig(image_size=32, preprocess="crop"))
    item = dataset[(0, 0)]
    assert item["index"] == 1
    assert "img00.png" in capsys.readouterr().err


def test_folders_without_pairs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        PairedDataset(tmp_path / "missing", 3, 3, DataConfig())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image pairs found"):
        PairedDataset(tmp_path / "empty", 3, 3, DataConfig())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="none of the 1 pair"):
        PairedDataset(tmp_path / "bad", 3, 3, DataConfig())


def test_mismatched_pair_sizes_are_named(tmp_path: Path) -> None:
    for side, size in (("A", 32), ("B", 40)):
        (tmp_path / side).mkdir()
        Image.new("RGB", (size, size)).save(tmp_path / side / "x.png")
    dataset = PairedDataset(tmp_path, 3, 3, DataConfig(image_size=16, preprocess="crop"))
    with pytest.raises(DatasetError):
        dataset[(0, 0)]  # the only pair is unusable: a clear error, not a silent misalignment


def test_sampler_is_resumable_and_covers_each_epoch() -> None:
    full = ResumableSampler(5, seed=1)
    stream = [next(it) for it in [iter(full)] for _ in range(12)]
    resumed = ResumableSampler(5, seed=1, start=7)
    tail = [key for key, _ in zip(iter(resumed), range(5))]
    assert tail == stream[7:12]
    assert sorted(index for index, _ in stream[:5]) == [0, 1, 2, 3, 4]
    ranks = [list(zip(iter(ResumableSampler(5, 1, rank=r, world_size=2)), range(3))) for r in (0, 1)]
    assert [k for k, _ in ranks[0]] == stream[0:6:2] and [k for k, _ in ranks[1]] == stream[1:6:2]
