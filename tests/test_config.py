"""Configs: overrides with types and clear errors, dict round trips, help listing."""

from __future__ import annotations

import json

import pytest

from translate.config import ConfigError, apply_overrides, describe, from_dict, to_dict
from translate.pipelines.pix2pix import Pix2PixConfig


def test_overrides_parse_by_field_type_and_leave_the_original_alone() -> None:
    base = Pix2PixConfig()
    changed = apply_overrides(
        base,
        ["generator.ngf=32", "optim.lr_g=1e-4", "data.flip=false", "loss.gan=hinge", "direction=BtoA"],
    )
    assert changed.generator.ngf == 32 and changed.optim.lr_g == 1e-4
    assert changed.data.flip is False and changed.loss.gan == "hinge" and changed.direction == "BtoA"
    assert base.generator.ngf == 64  # frozen and untouched


@pytest.mark.parametrize(
    "override, message",
    [
        ("generator.ngff=3", "unknown config key 'generator.ngff'.*ngf"),
        ("loss.gan=bce", "invalid value 'bce'; choose one of: vanilla, lsgan, hinge, wgan"),
        ("generator.ngf=wide", "expected an integer"),
        ("generator=3", "is a group"),
        ("nokey", "key=value"),
    ],
)
def test_override_errors_name_the_key_and_choices(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Pix2PixConfig(), [override])


def test_json_round_trip() -> None:
    config = apply_overrides(Pix2PixConfig(), ["generator.kind=resnet", "data.image_size=64"])
    document = json.loads(json.dumps(to_dict(config)))
    assert from_dict(Pix2PixConfig, document) == config


def test_from_dict_rejects_unknown_and_mistyped_keys() -> None:
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        from_dict(Pix2PixConfig, {"colour": 1})
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(Pix2PixConfig, {"generator": {"ngf": "64"}})


def test_describe_lists_every_leaf_key_with_default() -> None:
    rows = {row.key: row for row in describe(Pix2PixConfig)}
    assert rows["generator.ngf"].default == 64
    assert rows["loss.reconstruction_weight"].default == 100.0
    assert "vanilla" in rows["loss.gan"].type_name
    assert all(row.help for row in rows.values())


def test_renamed_keys_of_older_configs_still_load() -> None:
    from translate.config import from_dict
    from translate.optim import OptimConfig
    from translate.train import TrainConfig

    assert from_dict(OptimConfig, {"foreach": True}).adam_kernel == "foreach"
    assert from_dict(OptimConfig, {"foreach": False}).adam_kernel == "loop"
    assert from_dict(TrainConfig, {"channels_last": False}).memory_format == "contiguous"
    assert from_dict(TrainConfig, {"channels_last": True}).memory_format == "channels_last"
