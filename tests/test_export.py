"""`translate export`: ONNX run in ONNX Runtime and pt2 loaded back match the pipeline at other sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_pix2pix_config
from translate import load_pipeline
from translate.checkpoint import save_checkpoint
from translate.cli import main
from translate.pipelines.pix2pix import Pix2Pix


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    # A ResNet: instance norms, reflection padding and transposed convolutions all go through the exporter.
    config = tiny_pix2pix_config("generator.kind=resnet", "generator.n_blocks=2", "generator.init_gain=0.3")
    return save_checkpoint(Pix2Pix(config), tmp_path_factory.mktemp("ckpt") / "tiny")


def test_onnx_in_onnx_runtime_matches_the_pipeline_at_two_sizes(checkpoint: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["translate.size_multiple"] == "4" and metadata["translate.pipeline"] == "pix2pix"
    assert metadata["translate.min_side"] == "8"  # a ResNet generator: smaller inputs are padded up by the caller
    pipeline = load_pipeline(checkpoint)
    generator = torch.Generator().manual_seed(0)
    for shape in ((1, 3, 32, 48), (2, 3, 20, 12)):  # neither is the traced example's size
        images = torch.rand(*shape, generator=generator)
        (found,) = session.run(None, {"images": images.numpy()})
        expected = pipeline(images).numpy()
        assert found.shape == expected.shape
        assert expected.std() > 0.01
        np.testing.assert_allclose(found, expected, atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary left behind


def test_pt2_loads_back_and_matches(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.pt2"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "pt2", str(out)]) == 0
    program = torch.export.load(out).module()
    images = torch.rand(3, 3, 16, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(program(images), load_pipeline(checkpoint)(images), atol=1e-5, rtol=0)
        smallest = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(program(smallest), load_pipeline(checkpoint)(smallest), atol=1e-5, rtol=0)


def test_a_bad_option_is_refused_and_nothing_written(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--class", "cat", str(out)]) == 2
    assert "unknown option 'class_name' for pix2pix" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------ convert --backend onnxruntime
def _write_inputs(folder: Path) -> None:
    generator = np.random.default_rng(0)
    folder.mkdir()
    # Sizes that are not multiples of the network's (padding and cropping back), and two modes.
    Image.fromarray(generator.integers(0, 256, (30, 22, 3), dtype=np.uint8)).save(folder / "rgb.png")
    Image.fromarray(generator.integers(0, 256, (17, 40, 4), dtype=np.uint8), "RGBA").save(folder / "alpha.png")


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def test_convert_with_onnx_runtime_matches_torch_and_reuses_its_cache(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("TRANSLATE_CACHE", str(tmp_path / "cache"))
    _write_inputs(tmp_path / "in")
    common = ["convert", "--checkpoint", str(checkpoint), "--quiet", str(tmp_path / "in")]
    assert main([*common, str(tmp_path / "torch"), "--precision", "fp32"]) == 0
    assert main([*common, str(tmp_path / "ort"), "--backend", "onnxruntime"]) == 0
    assert "exporting the pix2pix network to ONNX once" in capsys.readouterr().err
    for name in ("rgb.png", "alpha.png"):
        found, expected = _pixels(tmp_path / "ort" / name), _pixels(tmp_path / "torch" / name)
        assert found.shape == expected.shape
        assert np.abs(found - expected).max() <= 1  # one 8-bit level: rounding of fp32 differences
    cached = list((tmp_path / "cache" / "onnx").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".onnx"
    # A second run finds the graph in the cache; a damaged cache file is exported again.
    assert main([*common, str(tmp_path / "again"), "--backend", "onnxruntime"]) == 0
    assert "exporting" not in capsys.readouterr().err
    cached[0].write_bytes(b"not an onnx file")
    assert main([*common, str(tmp_path / "repaired"), "--backend", "onnxruntime"]) == 0
    assert "exporting" in capsys.readouterr().err
    assert np.array_equal(_pixels(tmp_path / "repaired" / "rgb.png"), _pixels(tmp_path / "ort" / "rgb.png"))


def test_onnx_runtime_backend_keeps_options_fixed_and_post_network_options_free(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from test_cyclegan import tiny_cyclegan_config
    from test_srgan import tiny_config as tiny_srgan_config

    from translate.onnx_backend import attach_onnx_runtime
    from translate.pipelines.cyclegan import CycleGAN
    from translate.pipelines.srgan import SRGAN

    torch.manual_seed(0)
    images = torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(2))
    cyclegan = load_pipeline(save_checkpoint(CycleGAN(tiny_cyclegan_config()), tmp_path / "cyclegan"))
    expected = cyclegan(images, direction="b2a")
    attach_onnx_runtime(cyclegan, {"direction": "b2a"}, cache_dir=tmp_path / "cache")
    torch.testing.assert_close(cyclegan(images, direction="b2a"), expected, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="built for options"):
        cyclegan(images, direction="a2b")
    # outscale acts after the network: any value goes with one exported graph.
    srgan = load_pipeline(save_checkpoint(SRGAN(tiny_srgan_config()), tmp_path / "srgan"))
    expected = srgan(images, outscale=3.0)
    attach_onnx_runtime(srgan, {"outscale": 3.0}, cache_dir=tmp_path / "cache")
    found = srgan(images, outscale=3.0)
    assert found.shape == (1, 3, 60, 84)
    torch.testing.assert_close(found, expected, atol=1e-4, rtol=0)
    assert srgan(images).shape == (1, 3, 40, 56)


def test_onnx_runtime_backend_refuses_other_precisions(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "a.png")
    argv = ["convert", "--checkpoint", str(checkpoint), str(tmp_path / "in"), str(tmp_path / "out")]
    assert main([*argv, "--backend", "onnxruntime", "--precision", "bf16"]) == 2
    assert "--backend onnxruntime runs in fp32" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
