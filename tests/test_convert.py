"""`translate convert`: every image mode, broken files, collisions, resume after a real kill, batching,
pipeline options, torchrun; the output of one image equals the library call."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, tiny_pix2pix_config
from translate import load_pipeline
from translate.checkpoint import save_checkpoint
from translate.cli import main
from translate.imageio import ImageData, load_image, remove_stale_temporaries, to_8bit_levels
from translate.infer import CONVERSION_RECORD, ConvertError, _batches, _Job, assign_output_names, plan_outputs, shard_plan
from translate.pipelines.pix2pix import Pix2Pix


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    # A large init gain so outputs vary with the input (a default-initialised net is nearly flat grey).
    pipeline = Pix2Pix(tiny_pix2pix_config("generator.init_gain=0.3"))
    return save_checkpoint(pipeline, tmp_path_factory.mktemp("ckpt") / "tiny")


def _rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _convert(*args: str) -> int:
    return main(["convert", *args, "--quiet", "--workers", "2"])


def _files(folder: Path) -> list[str]:
    """Every file in the folder but its conversion record."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != CONVERSION_RECORD)


def _bomb_png(path: Path, side: int = 100_000) -> None:
    """A tiny valid-looking PNG whose header declares side × side pixels."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\0" * 64)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + idat)


def test_single_image_equals_the_library_call(checkpoint: Path, tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    Image.fromarray(_rgb(45, 70)).save(source)
    assert _convert("--checkpoint", str(checkpoint), "--precision", "fp32", str(source), str(tmp_path / "out.png")) == 0
    pipeline = load_pipeline(checkpoint)
    expected = to_8bit_levels(pipeline(load_image(source).pixels))
    written = torch.from_numpy(np.array(Image.open(tmp_path / "out.png"))).permute(2, 0, 1).float() / 255
    assert written.shape == (3, 45, 70)
    assert expected.std() > 0.02  # the check below means something only if outputs vary
    assert torch.equal(written, expected)


def test_folder_of_every_mode_and_broken_files(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    (inputs / "nested").mkdir(parents=True)
    rgb = _rgb(24, 40)
    Image.fromarray(rgb).save(inputs / "rgb.jpg")
    Image.fromarray(rgb[..., 0]).save(inputs / "grey.png")
    alpha = np.linspace(0, 255, 40, dtype=np.uint8)[None].repeat(24, 0)
    Image.fromarray(np.dstack([rgb, alpha])).save(inputs / "nested" / "rgba.png")
    Image.fromarray(np.dstack([rgb[..., 1], alpha])).save(inputs / "grey_alpha.png")
    Image.fromarray(rgb).convert("P").save(inputs / "palette.png")
    with_hole = Image.fromarray(rgb).convert("P")
    with_hole.info["transparency"] = 0
    with_hole.save(inputs / "palette_transparent.png", transparency=0)
    Image.fromarray((np.arange(24 * 40).reshape(24, 40) * 60).astype(np.uint16)).save(inputs / "sixteen.png")
    Image.fromarray(rgb).convert("CMYK").save(inputs / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90°: 40 wide, 24 high on disk -> 24 wide, 40 high
    Image.fromarray(rgb).save(inputs / "phone.jpg", exif=exif.tobytes())
    Image.fromarray(_rgb(37, 23)).save(inputs / "odd.webp", lossless=True)
    Image.fromarray(_rgb(72, 66)).save(inputs / "big.png")  # over --max-pixels: tiled
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "notes.png").write_text("not an image")
    whole = (inputs / "rgb.jpg").read_bytes()
    (inputs / "nested" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    _bomb_png(inputs / "bomb.png")
    (inputs / "readme.txt").write_text("ignored: not an image extension")

    status = _convert("--checkpoint", str(checkpoint), str(inputs), str(out), "--batch-size", "3", "--max-pixels", "4096")
    error = capsys.readouterr().err
    assert status == 1
    broken = ["empty.png", "notes.png", "nested/truncated.jpg", "bomb.png"]
    for name in broken:
        assert f"error: {inputs / name}: " in error
    assert "decompression-bomb" in error and "empty file" in error and "truncated" in error
    assert "converted 11, skipped 0, failed 4" in error
    sizes = {
        "rgb.jpg": (40, 24), "grey.png": (40, 24), "nested/rgba.png": (40, 24), "grey_alpha.png": (40, 24),
        "palette.png": (40, 24), "palette_transparent.png": (40, 24), "sixteen.png": (40, 24),
        "cmyk.jpg": (40, 24), "phone.jpg": (24, 40), "odd.webp": (23, 37), "big.png": (66, 72),
    }
    assert _files(out) == sorted(sizes)  # nothing for the broken ones, no temporary files
    assert (out / CONVERSION_RECORD).is_file()
    for name, size in sizes.items():
        assert Image.open(out / name).size == size, name
    rgba = Image.open(out / "nested" / "rgba.png")
    assert rgba.mode == "RGBA" and np.array_equal(np.asarray(rgba)[..., 3], alpha)
    assert Image.open(out / "grey_alpha.png").mode == "RGBA"
    assert Image.open(out / "palette_transparent.png").mode == "RGBA"


def test_collisions_keep_every_input_the_same_way_on_every_run(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    # Sizes tell the outputs apart.
    for name, width in (("a.png", 32), ("a.jpg", 40), ("A.webp", 48), ("b.jpg", 56)):
        Image.fromarray(_rgb(16, width)).save(inputs / name)
    args = ["--checkpoint", str(checkpoint), str(inputs), str(out), "--format", "png"]
    assert _convert(*args) == 0
    widths = {name: Image.open(out / name).size[0] for name in _files(out)}
    assert widths == {"a.png": 32, "a.jpg.png": 40, "A.webp.png": 48, "b.png": 56}
    assert _convert(*args) == 0
    assert "converted 0, skipped 4, failed 0" in capsys.readouterr().err
    # A renamed output that is itself taken by an input gets a counter.
    names = assign_output_names([Path("a.png"), Path("a.jpg"), Path("a.jpg.png")], "png")
    assert names == {Path("a.png"): Path("a.png"), Path("a.jpg"): Path("a.jpg~2.png"), Path("a.jpg.png"): Path("a.jpg.png")}
    # Without --format each input keeps its suffix: no collision, no renaming.
    assert assign_output_names([Path("a.png"), Path("a.jpg")], None) == {Path("a.png"): Path("a.png"), Path("a.jpg"): Path("a.jpg")}


def test_glob_input_mirrors_from_the_first_wildcard(tmp_path: Path) -> None:
    for name in ("x/one/a.png", "x/two/b.png", "x/two/c.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rgb(8, 8)).save(tmp_path / name)
    plan = plan_outputs(f"{tmp_path}/x/*/*.png", tmp_path / "out")
    assert plan == [
        (tmp_path / "x/one/a.png", tmp_path / "out/one/a.png"),
        (tmp_path / "x/two/b.png", tmp_path / "out/two/b.png"),
    ]
    assert shard_plan(plan, 1, 2) == plan[1:]


def test_outputs_never_replace_inputs_nor_land_on_a_file(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(_rgb(8, 8)).save(photos / name)
    with pytest.raises(ConvertError, match="a.png: the output would replace its own input"):
        plan_outputs(photos / "a.png", photos)
    with pytest.raises(ConvertError, match="a.png: the output would replace its own input"):
        plan_outputs(photos / "a.png", photos / "a.png")
    for same in (photos, f"{photos}/*.png"):
        with pytest.raises(ConvertError, match="the output folder must differ from the input folder"):
            plan_outputs(same, photos)
    with pytest.raises(ConvertError, match="b.png: exists and is not a folder"):
        plan_outputs(photos, photos / "b.png")
    (tmp_path / "out.txt").write_text("notes")
    with pytest.raises(ConvertError, match="out.txt: exists and is not a folder"):
        plan_outputs(photos / "a.png", tmp_path / "out.txt" / "x.png")
    # Outputs beside an input folder, in the folder that holds it: nothing to filter out.
    assert plan_outputs(photos, tmp_path) == [(photos / "a.png", tmp_path / "a.png"), (photos / "b.png", tmp_path / "b.png")]
    # An output folder inside the input folder: last run's outputs are not inputs.
    Image.fromarray(_rgb(8, 8)).save((photos / "out").mkdir() or photos / "out" / "a.png")
    assert [source for source, _ in plan_outputs(photos, photos / "out")] == [photos / "a.png", photos / "b.png"]


def test_batches_group_same_sizes_and_keep_failures_apart() -> None:
    def item(name: str, height: int) -> tuple[_Job, ImageData | str]:
        image = ImageData(torch.zeros(3, height, 8), None, 8, "RGB", None)
        return _Job(Path(name), Path(name)), image

    decoded = [item("a", 8), item("b", 16), item("c", 8), (_Job(Path("bad"), Path("bad")), "bad: broken"), item("d", 16)]
    batches = list(_batches(iter(decoded), batch_size=2, whole=lambda image: True))
    assert [[job.source.name for job, _ in batch] for batch in batches] == [["a", "c"], ["bad"], ["b", "d"]]


def test_batched_output_matches_one_by_one(checkpoint: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(5):
        Image.fromarray(_rgb(32, 32, seed=index)).save(inputs / f"{index}.png")
    for batch in ("1", "4"):
        assert _convert("--checkpoint", str(checkpoint), "--precision", "fp32", str(inputs), str(tmp_path / batch),
                        "--batch-size", batch) == 0
    for index in range(5):
        one = np.asarray(Image.open(tmp_path / "1" / f"{index}.png"), dtype=np.int16)
        four = np.asarray(Image.open(tmp_path / "4" / f"{index}.png"), dtype=np.int16)
        assert np.abs(one - four).max() <= 1  # float sums in another order may flip a rounding


def test_bad_pipeline_option_is_a_usage_error_before_any_file(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(_rgb(16, 16)).save(tmp_path / "a.png")
    status = _convert("--checkpoint", str(checkpoint), str(tmp_path / "a.png"), str(tmp_path / "out"), "--direction", "b2a")
    assert status == 2
    assert "unknown option 'direction' for pix2pix; valid options: none" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _translate(*args: str) -> list[str]:
    return [sys.executable, "-m", "translate", *args]


def test_resume_after_a_real_kill_finishes_the_rest_without_redoing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    checkpoint = save_checkpoint(Pix2Pix(tiny_pix2pix_config()), tmp_path / "ckpt")
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    total = 24
    image = _rgb(256, 256)
    for index in range(total):
        Image.fromarray(image).save(inputs / f"{index:02d}.png", compress_level=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen(
        _translate("convert", "--checkpoint", str(checkpoint), str(inputs), str(out), "--quiet", "--precision", "fp32"),
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and len([p for p in out.iterdir() if not p.name.startswith(".")]) >= 2):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    done = {p.name: p.stat() for p in out.iterdir() if not p.name.startswith(".")}
    assert 2 <= len(done) < total
    for name in done:  # whatever the kill interrupted, every visible output is whole
        assert Image.open(out / name).size == (256, 256)

    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(out), "--precision", "fp32") == 0
    assert f"converted {total - len(done)}, skipped {len(done)}, failed 0" in capsys.readouterr().err
    assert _files(out) == [f"{index:02d}.png" for index in range(total)]  # stale temporaries removed
    for name, before in done.items():
        after = (out / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_only_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid names no process now
    dead = tmp_path / f".a.png.tmp-{child.pid}-0123abcd.png"
    alive = tmp_path / f".a.png.tmp-{os.getpid()}-0123abcd.png"
    other = tmp_path / f".b.png.tmp-{child.pid}-0123abcd.png"  # not an output of this run
    for path in (dead, alive, other):
        path.write_bytes(b"partial")
    assert remove_stale_temporaries([tmp_path / "a.png"]) == 1
    assert not dead.exists() and alive.exists() and other.exists()


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="needs torchrun")
def test_torchrun_splits_the_files_and_rank_0_sums_up(checkpoint: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(5):
        Image.fromarray(_rgb(16, 16, seed=index)).save(inputs / f"{index}.png")
    (inputs / "broken.png").write_bytes(b"")
    torchrun = str(Path(sys.executable).parent / "torchrun")
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "translate", "convert", "--checkpoint",
         str(checkpoint), str(inputs), str(tmp_path / "out"), "--quiet"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0  # one rank had the broken file: exit status 1
    assert result.stderr.count("converted 5, skipped 0, failed 1") == 1, result.stderr
    assert _files(tmp_path / "out") == [f"{index}.png" for index in range(5)]


def test_a_folder_filled_by_another_checkpoint_is_not_taken_for_a_finished_resume(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for index in range(3):
        Image.fromarray(_rgb(16, 16, seed=index)).save(inputs / f"{index}.png")
    torch.manual_seed(1)
    other = save_checkpoint(Pix2Pix(tiny_pix2pix_config("generator.init_gain=0.3")), tmp_path / "other")
    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(out)) == 0
    first = (out / "0.png").read_bytes()
    record = json.loads((out / CONVERSION_RECORD).read_text())
    digest = hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()
    assert record == {"checkpoint": str(checkpoint.resolve()), "weights_sha256": digest, "options": {}}
    # The same conversion again resumes: nothing to redo, nothing refused.
    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(out)) == 0
    capsys.readouterr()
    # Another checkpoint into the same folder: refused before any file is touched, both named.
    assert _convert("--checkpoint", str(other), str(inputs), str(out)) == 2
    error = capsys.readouterr().err
    assert f"{out}: holds the outputs of {checkpoint.resolve()} (weights {digest[:12]}; no options), not of {other.resolve()}" in error
    assert "3 of this run's 3 outputs exist already" in error
    assert "--overwrite" in error and (out / "0.png").read_bytes() == first
    assert _convert("--checkpoint", str(other), "--overwrite", str(inputs), str(out)) == 0
    assert (out / "0.png").read_bytes() != first
    assert json.loads((out / CONVERSION_RECORD).read_text())["checkpoint"] == str(other.resolve())
    # New inputs only: still refused, a folder of mixed origin could not be resumed safely.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    Image.fromarray(_rgb(16, 16, seed=9)).save(fresh / "9.png")
    assert _convert("--checkpoint", str(checkpoint), str(fresh), str(out)) == 2
    assert "0 of this run's 1 outputs exist already" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".translate-convert.json", "0.png", "1.png", "2.png"]
    # The same weights retrained in place are another conversion too.
    shutil.copytree(checkpoint, tmp_path / "retrained")
    assert _convert("--checkpoint", str(tmp_path / "retrained"), str(inputs), str(tmp_path / "again")) == 0
    torch.manual_seed(2)
    save_checkpoint(Pix2Pix(tiny_pix2pix_config("generator.init_gain=0.3")), tmp_path / "retrained")
    assert _convert("--checkpoint", str(tmp_path / "retrained"), str(inputs), str(tmp_path / "again")) == 2
    assert f"holds the outputs of {(tmp_path / 'retrained').resolve()} (weights {digest[:12]}" in capsys.readouterr().err
    # A single named output file has no record; a folder named like a file does.
    assert _convert("--checkpoint", str(checkpoint), str(inputs / "0.png"), str(tmp_path / "one.png")) == 0
    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(tmp_path / "out.d")) == 0
    assert (tmp_path / "out.d" / CONVERSION_RECORD).is_file() and not (tmp_path / CONVERSION_RECORD).exists()


def test_a_damaged_conversion_record_is_refused_not_taken_for_absent(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    Image.fromarray(_rgb(16, 16)).save(inputs / "0.png")
    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(out)) == 0
    first = (out / "0.png").read_bytes()
    for damaged in ("{not json", "[1, 2]"):
        (out / CONVERSION_RECORD).write_text(damaged)
        capsys.readouterr()
        assert _convert("--checkpoint", str(checkpoint), str(inputs), str(out)) == 2
        error = capsys.readouterr().err
        assert f"{out / CONVERSION_RECORD}: cannot read this folder's record" in error
        assert "1 of this run's 1 outputs exist already" in error and "--overwrite" in error
        assert (out / CONVERSION_RECORD).read_text() == damaged and (out / "0.png").read_bytes() == first
    # --overwrite converts again and, once the run is complete, records it.
    assert _convert("--checkpoint", str(checkpoint), "--overwrite", str(inputs), str(out)) == 0
    assert json.loads((out / CONVERSION_RECORD).read_text())["checkpoint"] == str(checkpoint.resolve())
    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(out)) == 0


def test_an_interrupted_overwrite_leaves_the_folder_to_the_conversion_it_replaces(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import translate.infer

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    Image.fromarray(_rgb(16, 16)).save(inputs / "0.png")
    torch.manual_seed(1)
    other = save_checkpoint(Pix2Pix(tiny_pix2pix_config("generator.init_gain=0.3")), tmp_path / "other")
    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(out)) == 0
    before = (out / CONVERSION_RECORD).read_text()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(translate.infer, "convert_files", interrupted)
    assert _convert("--checkpoint", str(other), "--overwrite", str(inputs), str(out)) == 128 + signal.SIGINT
    assert (out / CONVERSION_RECORD).read_text() == before  # 0.png is still the first checkpoint's


def test_a_pixel_limit_above_pillows_own_lets_big_files_through(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's default, scaled down
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("big.png", "big.tif"):  # TIFF: Pillow checks its limit again while decoding
        Image.fromarray(_rgb(20, 20)).save(inputs / name)
    assert _convert("--checkpoint", str(checkpoint), str(inputs), str(tmp_path / "refused")) == 1
    assert "400 pixels, over the limit of 100" in capsys.readouterr().err
    assert _convert("--checkpoint", str(checkpoint), "--image-pixel-limit", "1000", str(inputs), str(tmp_path / "out")) == 0
    assert _files(tmp_path / "out") == ["big.png", "big.tif"]
    assert Image.MAX_IMAGE_PIXELS == 100  # the command's limit ends with the command
