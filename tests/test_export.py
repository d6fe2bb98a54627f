"""`translate export`: ONNX run in ONNX Runtime and pt2 loaded back match the pipeline at other sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

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


def test_a_bad_option_is_refused_and_nothing_written(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--class", "cat", str(out)]) == 2
    assert "unknown option 'class_name' for pix2pix" in capsys.readouterr().err
    assert not out.exists()
