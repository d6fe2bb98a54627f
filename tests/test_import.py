"""`translate import`: weights saved in other projects' key layouts become checkpoints that compute
what those projects' networks compute; malicious pickles are refused without running."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from translate import load_pipeline
from translate.cli import main
from translate.networks.sr import RRDBGenerator

# ---------------------------------------------------------------------------------- their layouts
# Written for these tests from the published architectures, to produce state dicts with the same
# key names and tensor layouts as pytorch-CycleGAN-and-pix2pix's saved generators.
Norm = Callable[[int], nn.Module]


def _instance(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class _TheirResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: Norm, bias: bool, dropout: bool) -> None:
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim), nn.ReLU()]
        layers += [nn.Dropout(0.5)] if dropout else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class _TheirResnet(nn.Module):
    def __init__(self, in_nc: int, out_nc: int, ngf: int, n_blocks: int, norm: Norm, bias: bool, dropout: bool) -> None:
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7, bias=bias), norm(ngf), nn.ReLU()]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias), norm(ngf * mult * 2), nn.ReLU()]
        layers += [_TheirResnetBlock(ngf * 4, norm, bias, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                norm(ngf * mult // 2),
                nn.ReLU(),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class _TheirUnetBlock(nn.Module):
    def __init__(self, outer: int, inner: int, norm: Norm, bias: bool, input_nc: int | None = None,
                 sub: nn.Module | None = None, outermost: bool = False, innermost: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        down = nn.Conv2d(input_nc or outer, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [down, sub, nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), norm(outer)]
        else:
            layers = [nn.LeakyReLU(0.2), down, norm(inner), sub, nn.ReLU(),
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias), norm(outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class _TheirUnet(nn.Module):
    def __init__(self, in_nc: int, out_nc: int, num_downs: int, ngf: int, norm: Norm, bias: bool) -> None:
        super().__init__()
        block = _TheirUnetBlock(ngf * 8, ngf * 8, norm, bias, innermost=True)
        for _ in range(num_downs - 5):
            block = _TheirUnetBlock(ngf * 8, ngf * 8, norm, bias, sub=block)
        for outer in (4, 2, 1):
            block = _TheirUnetBlock(ngf * outer, ngf * outer * 2, norm, bias, sub=block)
        self.model = _TheirUnetBlock(out_nc, ngf, norm, bias, input_nc=in_nc, sub=block, outermost=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def _randomise(network: nn.Module) -> nn.Module:
    """Weights and batch-norm statistics all different, so any mixed-up tensor shows in the output."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, tensor in network.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5 if "running_var" in name else torch.randn_like(tensor) * 0.2)
    return network.eval()


def _import(kind: str, weights: Path, out: Path, *extra: str) -> int:
    return main(["import", "--from", kind, str(weights), "--out", str(out), *extra])


# ---------------------------------------------------------------------------------- tests
@pytest.mark.parametrize(
    "name, network, size",
    [
        ("resnet-instance", _TheirResnet(3, 3, 8, 2, _instance, bias=True, dropout=False), 24),
        ("resnet-batch-dropout", _TheirResnet(1, 3, 8, 2, nn.BatchNorm2d, bias=False, dropout=True), 20),
        ("unet-instance", _TheirUnet(3, 3, 6, 4, _instance, bias=True), 64),
        ("unet-batch", _TheirUnet(3, 1, 5, 4, nn.BatchNorm2d, bias=False), 32),
    ],
)
def test_cyclegan_pix2pix_generators_compute_the_same(name: str, network: nn.Module, size: int, tmp_path: Path) -> None:
    network = _randomise(network)
    weights = tmp_path / "latest_net_G.pth"
    # DataParallel's prefix, as some of their files have it.
    torch.save({f"module.{k}": v for k, v in network.state_dict().items()}, weights)
    assert _import("cyclegan-pix2pix", weights, tmp_path / "ckpt", "--set", "data.preprocess=crop") == 0
    pipeline = load_pipeline(tmp_path / "ckpt")
    assert pipeline.name == "pix2pix"
    images = torch.rand(2, network_input_channels(network), size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ((network(images * 2 - 1) + 1) / 2).clamp(0, 1)
    found = pipeline(images)
    assert expected.std() > 0.05
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=0)


def network_input_channels(network: nn.Module) -> int:
    return next(m for m in network.modules() if isinstance(m, nn.Conv2d)).in_channels


def _old_esrgan_names(state: dict[str, Tensor], blocks: int) -> dict[str, Tensor]:
    """Real-ESRGAN names → ESRGAN 2019 names (``RRDB_trunk``, ``trunk_conv``, ``upconv1``, ``HRconv``)."""
    renames = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
    result = {}
    for key, value in state.items():
        layer, param = key.rsplit(".", 1)
        if layer.startswith("body."):
            layer = "RRDB_trunk." + layer.removeprefix("body.").replace(".rdb", ".RDB")
        result[f"{renames.get(layer, layer)}.{param}"] = value
    return result


def _first_release_names(state: dict[str, Tensor], blocks: int) -> dict[str, Tensor]:
    """Real-ESRGAN names → the first ESRGAN release's sequential ``model.N`` names."""
    fixed = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}", "conv_up1": "model.3",
             "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    result = {}
    for key, value in state.items():
        layer, param = key.rsplit(".", 1)
        if layer in fixed:
            result[f"{fixed[layer]}.{param}"] = value
        else:  # body.I.rdbJ.convK -> model.1.sub.I.RDBJ.convK.0
            _, index, rdb, conv = layer.split(".")
            result[f"model.1.sub.{index}.RDB{rdb[3:]}.{conv}.0.{param}"] = value
    return result


@pytest.mark.parametrize("layout", ["real-esrgan", "esrgan-2019", "esrgan-first-release"])
@pytest.mark.parametrize("scale", [4, 2])
def test_esrgan_layouts_load_into_the_rrdb_generator(layout: str, scale: int, tmp_path: Path) -> None:
    if layout != "real-esrgan" and scale == 2:
        pytest.skip("ESRGAN's own releases are ×4 only")
    torch.manual_seed(0)
    original = _randomise(RRDBGenerator(3, 3, scale=scale, num_features=8, num_blocks=2, growth=4))
    state = original.state_dict()
    if layout == "real-esrgan":
        saved: dict = {"params_ema": state, "params": {k: torch.zeros_like(v) for k, v in state.items()}}
    elif layout == "esrgan-2019":
        saved = _old_esrgan_names(state, 2)
    else:
        saved = _first_release_names(state, 2)
    weights = tmp_path / "RRDB.pth"
    torch.save(saved, weights)
    assert _import("esrgan", weights, tmp_path / "ckpt") == 0
    pipeline = load_pipeline(tmp_path / "ckpt")
    assert pipeline.name == "srgan" and pipeline.scale == scale
    images = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = original(images).clamp(0, 1)
    torch.testing.assert_close(pipeline(images, tile=None), expected, atol=1e-5, rtol=0)


class _Payload:
    def __reduce__(self) -> tuple:
        return (os.mkdir, (os.environ["TRANSLATE_TEST_MARKER"],))


def test_a_malicious_pickle_is_refused_without_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("TRANSLATE_TEST_MARKER", str(marker))
    weights = tmp_path / "latest_net_G.pth"
    torch.save({"model.1.weight": torch.zeros(1), "evil": _Payload()}, weights)
    assert _import("cyclegan-pix2pix", weights, tmp_path / "ckpt") == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "ckpt").exists()


def test_unrecognised_files_and_existing_outputs_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    weights = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, weights)
    assert _import("esrgan", weights, tmp_path / "ckpt") == 2
    assert "not an ESRGAN/Real-ESRGAN RRDB generator" in capsys.readouterr().err
    assert _import("cyclegan-pix2pix", tmp_path / "missing.pth", tmp_path / "ckpt") == 2
    assert "missing.pth: no such file" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert _import("cyclegan-pix2pix", weights, tmp_path / "taken") == 2
    assert "already exists" in capsys.readouterr().err
