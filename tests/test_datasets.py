"""Data-set builders: pairs really derived from their photos, splits kept and disjoint, emoji
aligned and split by code point, a pickle that would run code refused, and the CLI."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kornia
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from translate.cli import main as cli_main
from translate.data import DataConfig, DatasetError, PairedDataset
from translate.datasets import (
    AnimalOptions,
    EmojiOptions,
    PhotoPairOptions,
    UnsafePickleError,
    build_animals,
    build_edges,
    build_emoji,
    build_gray,
    build_lowres,
    load_numpy_pickle,
)
from translate.datasets import photos as photos_module
from translate.datasets.animals import DATA_FILE, LABEL_FILE
from translate.datasets.common import hash_fraction, slugify
from translate.datasets.emoji import STYLES, Emoji, EmojiFont, is_pictograph
from translate.imageio import load_image, to_8bit_levels


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Builders work on tiny images one at a time; extra threads only wait on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_photo(path: Path, seed: int, width: int = 48, height: int = 40) -> None:
    """A colourful picture with sharp rectangles (so Canny finds edges) and a little noise."""
    rng = np.random.default_rng(seed)
    pixels = np.full((height, width, 3), rng.integers(0, 256, 3), dtype=np.float64)
    for _ in range(4):
        top, left = rng.integers(0, height - 8), rng.integers(0, width - 8)
        pixels[top : top + rng.integers(6, 20), left : left + rng.integers(6, 20)] = rng.integers(0, 256, 3)
    pixels += rng.normal(0, 4, pixels.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Six 48×40 photos, one of them in a sub-folder."""
    root = tmp_path / "photos"
    for index in range(5):
        make_photo(root / f"p{index}.png", index)
    make_photo(root / "nested" / "deep.jpg", 9)
    return root


def pixels(path: Path, channels: int = 3) -> torch.Tensor:
    return load_image(path, channels=channels).pixels


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def names(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.png")}


# ---------------------------------------------------------------------------------- photo pairs
def test_edges_are_kornias_canny_of_the_stored_photo(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "edges"
    options = PhotoPairOptions(size=32, crops_per_image=2, test_fraction=0.34)
    summary = build_edges(photos, out, options)
    assert summary.counts == {"train": 8, "test": 4}  # 6 photos: 4 train, 2 test, 2 crops each
    for split in ("train", "test"):
        assert names(out / split / "A") == names(out / split / "B")
        for name in names(out / split / "A"):
            a, b = pixels(out / split / "A" / name, 1), pixels(out / split / "B" / name)
            assert a.shape == (1, 32, 32) and b.shape == (3, 32, 32)
            # kornia's own hysteresis, not the builder's faster equivalent.
            _, edges = kornia.filters.canny(kornia.color.rgb_to_grayscale(b[None]), 0.1, 0.2)
            assert torch.equal(a, 1 - edges[0]), name
    assert any(pixels(p, 1).min() == 0 for p in (out / "train" / "A").rglob("*.png"))  # there are edges
    # A crop never lands in another split than its photo's crops.
    photo_of = lambda split: {n.rsplit("_", 1)[0] for n in names(out / split / "B")}  # noqa: E731
    assert not photo_of("train") & photo_of("test")
    assert "nested/deep_0.png" in names(out / "train" / "B") | names(out / "test" / "B")
    dataset = PairedDataset(out, 1, 3, DataConfig(image_size=32, preprocess="none"), train=True)
    assert len(dataset) == 8 and dataset.layout == "folders"


def test_gray_is_luma_of_b_and_transparency_goes_on_the_background(photos: Path, tmp_path: Path) -> None:
    Image.new("RGBA", (40, 40), (255, 0, 0, 0)).save(photos / "clear.png")  # red, fully transparent
    build_gray(photos, tmp_path / "white", PhotoPairOptions(size=32, test_fraction=0))
    build_gray(photos, tmp_path / "black", PhotoPairOptions(size=32, test_fraction=0, background="black"))
    assert torch.all(pixels(tmp_path / "white" / "train" / "B" / "clear.png") == 1)
    assert torch.all(pixels(tmp_path / "black" / "train" / "B" / "clear.png") == 0)
    for name in names(tmp_path / "white" / "train" / "B"):
        a, b = pixels(tmp_path / "white" / "train" / "A" / name, 1), pixels(tmp_path / "white" / "train" / "B" / name)
        luma = 0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2]
        assert (a[0] - luma).abs().max() <= 0.5 / 255 + 1e-6, name


def test_lowres_is_antialiased_bicubic_of_b(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="--scale"):
        build_lowres(photos, tmp_path / "bad", PhotoPairOptions(size=30), scale=4)
    out = tmp_path / "sr"
    build_lowres(photos, out, PhotoPairOptions(size=32, resize_short=36), scale=4)
    for name in names(out / "train" / "B"):
        a, b = pixels(out / "train" / "A" / name), pixels(out / "train" / "B" / name)
        assert a.shape == (3, 8, 8) and b.shape == (3, 32, 32)
        expected = torch.nn.functional.interpolate(b[None], size=(8, 8), mode="bicubic", antialias=True)[0]
        assert torch.allclose(a, to_8bit_levels(expected), atol=1e-6), name


def test_same_seed_same_files_other_seed_other_crops(photos: Path, tmp_path: Path) -> None:
    options = PhotoPairOptions(size=24, crops_per_image=3, seed=5)
    build_gray(photos, tmp_path / "one", options)
    build_gray(photos, tmp_path / "two", options)
    assert files(tmp_path / "one") == files(tmp_path / "two")
    build_gray(photos, tmp_path / "other", PhotoPairOptions(size=24, crops_per_image=3, seed=6))
    crops = lambda root: sorted(p.read_bytes() for p in root.rglob("B/*.png"))  # noqa: E731
    assert crops(tmp_path / "one") != crops(tmp_path / "other")


def test_existing_split_is_kept_and_bad_images_are_skipped(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for split, count in (("train", 3), ("test", 2)):
        for index in range(count):
            make_photo(source / split / "B" / f"{split}{index}.png", index + 10 * len(split))
        make_photo(source / split / "A" / "ignored.png", 99)
    (source / "train" / "B" / "broken.png").write_bytes(b"not a png")
    make_photo(source / "train" / "B" / "tiny.png", 7, width=10, height=10)
    summary = build_edges(source, tmp_path / "out", PhotoPairOptions(size=32, test_fraction=0.9, subfolder="B"))
    assert names(tmp_path / "out" / "test" / "B") == {"test0.png", "test1.png"}
    assert names(tmp_path / "out" / "train" / "B") == {"train0.png", "train1.png", "train2.png"}
    skipped = {Path(name).name: reason for name, reason in summary.skipped}
    assert set(skipped) == {"broken.png", "tiny.png"} and "smaller than the crop size 32" in skipped["tiny.png"]


def test_errors_name_the_folder_and_nothing_half_written_is_left(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DatasetError, match="empty.*no images found"):
        (tmp_path / "empty").mkdir()
        build_gray(tmp_path / "empty", tmp_path / "x", PhotoPairOptions(size=8))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match=f"{out}: output folder exists and is not empty; pass --overwrite"):
        build_gray(photos, out, PhotoPairOptions(size=32))
    with pytest.raises(DatasetError, match="not a data set built by translate"):  # the user's own files
        build_gray(photos, out, PhotoPairOptions(size=32, overwrite=True))
    assert files(out) == {"keep.txt": b"mine"}
    with pytest.raises(DatasetError, match="outside the source"):
        build_gray(photos, photos / "derived", PhotoPairOptions(size=32))

    build_gray(photos, out / "earlier", PhotoPairOptions(size=32))
    earlier = files(out / "earlier")
    real_save, calls = photos_module.save_image, []

    def interrupted_save(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        real_save(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(photos_module, "save_image", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        build_gray(photos, out / "earlier", PhotoPairOptions(size=16, overwrite=True))
    assert files(out / "earlier") == earlier  # the earlier build untouched
    assert sorted(p.name for p in out.iterdir()) == ["earlier", "keep.txt"]  # no temporary left
    monkeypatch.setattr(photos_module, "save_image", real_save)
    build_gray(photos, out / "earlier", PhotoPairOptions(size=16, overwrite=True))
    assert files(out / "earlier") != earlier and (out / "earlier" / "metadata.json").is_file()


# ---------------------------------------------------------------------------------- emoji
def non_background_box(image: torch.Tensor) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of pixels visibly different from white."""
    ys, xs = torch.nonzero((1 - image).abs().amax(0) > 0.15, as_tuple=True)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


@pytest.fixture(scope="module")
def emoji_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The first 16 emoji in three styles, at two sizes."""
    root = tmp_path_factory.mktemp("emoji")
    styles = ("noto", "openmoji", "symbola")
    for size in (24, 40):
        build_emoji(root / str(size), EmojiOptions(size=size, styles=styles, limit=16, test_fraction=0.4))
    return {size: root / str(size) for size in (24, 40)}


def test_emoji_pairs_are_aligned_named_and_complete(emoji_sets: dict[int, Path]) -> None:
    out = emoji_sets[40]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["pairs"]["train"] + meta["pairs"]["test"] == 16 == len(meta["emoji"])
    for stem, entry in meta["emoji"].items():
        code_point = int(entry["code_points"][0][2:], 16)
        assert chr(code_point) == entry["text"] and stem == slugify(entry["name"])
        split = entry["split"]
        a_file, b_file = out / split / "A" / f"{stem}.png", out / split / "B" / f"{stem}.png"
        assert a_file.read_bytes() == (out / "styles" / split / "noto" / f"{stem}.png").read_bytes()
        assert b_file.read_bytes() == (out / "styles" / split / "openmoji" / f"{stem}.png").read_bytes()
        for path in (a_file, b_file):
            image = pixels(path)
            assert image.shape == (3, 40, 40)
            top, left, bottom, right = non_background_box(image)
            # Cropped to the drawing, scaled to the 36-pixel box (2-pixel margins), centred.
            assert 33 <= max(bottom - top, right - left) <= 36, (path, top, left, bottom, right)
            assert abs(top - (40 - bottom)) <= 2 and abs(left - (40 - right)) <= 2, (path, top, left, bottom, right)
    assert meta["emoji"]["copyright-sign"]["name"] == "COPYRIGHT SIGN"
    assert meta["pair_styles"] == {"A": "noto", "B": "openmoji"}
    assert "CC BY-SA 4.0" in meta["fonts"]["openmoji"]["licence"]


def test_emoji_split_is_by_code_point_and_the_same_at_every_size(emoji_sets: dict[int, Path]) -> None:
    small, large = (json.loads((emoji_sets[s] / "metadata.json").read_text())["emoji"] for s in (24, 40))
    assert {k: v["split"] for k, v in small.items()} == {k: v["split"] for k, v in large.items()}
    for entry in large.values():
        key = "-".join(cp[2:] for cp in entry["code_points"])
        assert entry["split"] == ("test" if hash_fraction(key) < 0.4 else "train")
    for out in emoji_sets.values():
        for style in ("noto", "openmoji", "symbola"):
            train = names(out / "styles" / "train" / style)
            assert train and not train & names(out / "styles" / "test" / style)
        assert names(out / "test" / "A") == names(out / "styles" / "test" / "symbola")
    assert names(emoji_sets[24] / "test" / "B") == names(emoji_sets[40] / "test" / "B") != set()


def test_a_set_derived_from_emoji_keeps_their_held_out_emoji(emoji_sets: dict[int, Path], tmp_path: Path) -> None:
    out = tmp_path / "edges2emoji"
    build_edges(emoji_sets[40], out, PhotoPairOptions(size=40, subfolder="B", test_fraction=0.9))
    for split in ("train", "test"):
        assert names(out / split / "B") == names(emoji_sets[40] / split / "B")
        for name in names(out / split / "B"):
            assert torch.equal(pixels(out / split / "B" / name), pixels(emoji_sets[40] / split / "B" / name))


def test_emoji_coverage_and_missing_fonts(tmp_path: Path) -> None:
    assert is_pictograph(0x1F600) and is_pictograph(0x00A9)
    for component in (0x30, 0x23, 0x200D, 0xFE0F, 0x1F3FB, 0x1F1E6, 0xE0067, 0x20E3):
        assert not is_pictograph(component), hex(component)
    symbola = EmojiFont(STYLES["symbola"], size=32)
    newer = Emoji((0x1FAE8,), None, "u1fae8")  # Unicode 15
    older = Emoji((0x1F600,), "GRINNING FACE", "grinning-face")
    assert symbola.covers(older) and symbola.draw(older) is not None
    assert not symbola.covers(newer)  # Symbola stops before Unicode 15: its tofu must not count
    missing = tmp_path / "nope.ttf"
    install = f"symbola emoji font is not installed at {missing}; install it with: apt-get install fonts-symbola"
    with pytest.raises(DatasetError, match=install):
        build_emoji(tmp_path / "out", EmojiOptions(styles=("noto", "symbola"), fonts={"symbola": missing}, limit=1))
    with pytest.raises(DatasetError, match="unknown emoji style 'twemoji'; choose from: noto, openmoji, symbola"):
        build_emoji(tmp_path / "out", EmojiOptions(styles=("noto", "twemoji")))
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------- animals
class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_anything_but_arrays(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.gz"
    with gzip.open(evil, "wb") as handle:
        pickle.dump(RunsCode(marker), handle)
    with pytest.raises(UnsafePickleError, match=f"{evil}: refusing to load (posix|os).system"):
        load_numpy_pickle(evil)
    assert not marker.exists()

    objects = tmp_path / "objects.pkl"
    objects.write_bytes(pickle.dumps(np.array([1, "text"], dtype=object)))
    with pytest.raises(UnsafePickleError, match="expected a numeric numpy array, found array of object"):
        load_numpy_pickle(objects)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    assert np.array_equal(load_numpy_pickle(plain), np.arange(6).reshape(2, 3))


def test_animals_become_a_folder_per_class(tmp_path: Path) -> None:
    source = tmp_path / "pickles"
    source.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 10)
    for name, array in ((DATA_FILE, images), (LABEL_FILE, labels)):
        with gzip.open(source / name, "wb") as handle:
            pickle.dump(array, handle)
    out = tmp_path / "animals"
    summary = build_animals(out, AnimalOptions(source=source, test_fraction=0.2))
    assert summary.counts == {"train": 24, "test": 6}
    for split, per_class in (("train", 8), ("test", 2)):
        assert sorted(p.name for p in (out / split).iterdir()) == ["bear", "bird", "cat"]  # the package's names
        assert all(len(list((out / split / c).iterdir())) == per_class for c in ("bear", "bird", "cat"))
    written = out / "train" / "bird"
    index = int(next(iter(sorted(written.iterdir()))).stem)
    assert 10 <= index < 20 and torch.equal(
        pixels(written / f"{index:05d}.png", 1)[0], torch.from_numpy(images[index]).float() / 255
    )
    assert not names(out / "train") & names(out / "test")
    big = build_animals(tmp_path / "big", AnimalOptions(source=source, size=56, test_fraction=0.2))
    assert big.counts == summary.counts and pixels(next((tmp_path / "big").rglob("*.png")), 1).shape == (1, 56, 56)


# ---------------------------------------------------------------------------------- CLI
def translate(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "translate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_cli_builds_and_reports(photos: Path, tmp_path: Path) -> None:
    out, missing = tmp_path / "gray", tmp_path / "no-such-photos"
    # Started together: most of each run is importing torch.
    running = translate("data", "build", "gray", str(photos), str(out), "--size", "32", "--test-fraction", "0.5")
    failing = translate("data", "build", "edges", str(missing), str(tmp_path / "edges"))
    (stdout, stderr), (_, failed_stderr) = running.communicate(timeout=300), failing.communicate(timeout=300)

    assert running.returncode == 0, stderr
    assert f"built gray in {out}: train 3, test 3" in stdout
    assert names(out / "train" / "A") == names(out / "train" / "B") and len(names(out / "test" / "A")) == 3
    assert failing.returncode == 2 and f"error: {missing}: no such source folder" in failed_stderr
    assert not (tmp_path / "edges").exists()


def test_cli_help_and_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["data", "build", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(kind in text for kind in ("edges", "gray", "lowres", "emoji", "animals"))
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["data", "build", "lowres", "--help"])
    assert exit_info.value.code == 0 and "--scale" in capsys.readouterr().out
    assert cli_main(["data", "build", "emoji", str(tmp_path / "e"), "--styles", "noto"]) == 2
    assert "--styles needs at least two different styles" in capsys.readouterr().err
