"""Configuration as data: frozen dataclasses, JSON on disk, ``--set key=value`` overrides.

Every component has its own frozen dataclass; a pipeline nests them into one config.
This module knows nothing about networks or pipelines: it converts any such dataclass
to and from plain dicts, applies dotted overrides with type checking, and lists the
keys with their defaults for ``--help``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key and the valid choices."""


def option(default: Any, help: str) -> Any:
    """A dataclass field with a default and a help text shown by ``translate train PIPELINE --help``."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("config defaults must be immutable (use a tuple)")
    if is_dataclass(default):
        return field(default_factory=lambda: default, metadata={"help": help})
    return field(default=default, metadata={"help": help})


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as a JSON-ready dict (tuples become lists)."""
    return _jsonable(dataclasses.asdict(config))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build ``cls`` from a dict, strictly: an unknown key or a wrongly typed value is an error.

    Missing keys take their defaults, so configs saved by older versions still load; a class
    whose keys were renamed maps the old ones in a static ``upgrade(data) -> data`` method.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    upgrade = getattr(cls, "upgrade", None)
    if upgrade is not None:
        data = upgrade(data)
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``hint``; convert lists to tuples and ints to floats."""
    origin = get_origin(hint)
    if is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option_type in options:
            if option_type is type(None):
                continue
            try:
                return _coerce(option_type, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(
                f"{where}: invalid value {value!r}; choose one of: {', '.join(map(str, choices))}"
            )
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is Any:
        return value
    raise ConfigError(f"{where}: unsupported config type {hint!r}")


def parse_value(hint: Any, text: str, where: str) -> Any:
    """Parse the text of a ``--set key=value`` override into a value of type ``hint``."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in get_args(hint):
            return None
        for option_type in get_args(hint):
            if option_type is type(None):
                continue
            try:
                return parse_value(option_type, text, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: cannot read {text!r} as {_type_name(hint)}")
    if origin is tuple:
        parts = [p.strip() for p in text.split(",") if p.strip()] if text.strip() else []
        args = get_args(hint)
        item = args[0] if args else str
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(item, p, where) for p in parts)
        if len(parts) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} comma-separated values, got {text!r}")
        return tuple(parse_value(a, p, where) for a, p in zip(args, parts))
    if hint is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {text!r}")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {text!r}") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {text!r}") from None
    if origin is Literal:
        return _coerce(hint, text, where)
    return _coerce(hint, text, where)


def apply_overrides(config: T, overrides: list[str] | tuple[str, ...]) -> T:
    """Return a copy of ``config`` with ``key.sub=value`` overrides applied (the original is untouched).

    Example:
        >>> cfg = apply_overrides(cfg, ["generator.ngf=32", "optim.lr=1e-4"])
    """
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} must look like key=value")
        key, text = override.split("=", 1)
        config = _replace_path(config, key.strip().split("."), text.strip(), key.strip())
    return config


def _replace_path(config: Any, path: list[str], text: str, full_key: str) -> Any:
    hints = get_type_hints(type(config))
    names = [f.name for f in fields(config)]
    name = path[0]
    if name not in names:
        prefix = full_key[: len(full_key) - len(".".join(path))]
        raise ConfigError(
            f"unknown config key {full_key!r}; valid keys under {prefix or 'the top level'!r}: "
            f"{', '.join(sorted(names))}"
        )
    hint = hints[name]
    if len(path) == 1:
        if is_dataclass(hint):
            raise ConfigError(f"{full_key!r} is a group; set one of its keys, e.g. {full_key}.<key>=...")
        value = parse_value(hint, text, full_key)
    else:
        child = getattr(config, name)
        if not is_dataclass(child):
            raise ConfigError(f"{'.'.join(full_key.split('.')[:-len(path) + 1])!r} has no sub-keys")
        value = _replace_path(child, path[1:], text, full_key)
    return dataclasses.replace(config, **{name: value})


@dataclass(frozen=True)
class KeyHelp:
    key: str
    type_name: str
    default: Any
    help: str


def describe(cls_or_config: Any, prefix: str = "") -> list[KeyHelp]:
    """Every settable key of a config, depth first, with its type, current value and help text."""
    config = cls_or_config() if isinstance(cls_or_config, type) else cls_or_config
    hints = get_type_hints(type(config))
    rows: list[KeyHelp] = []
    for f in fields(config):
        value = getattr(config, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            rows.extend(describe(value, prefix=f"{key}."))
        else:
            rows.append(KeyHelp(key, _type_name(hints[f.name]), value, f.metadata.get("help", "")))
    return rows


def _type_name(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "|".join(map(str, get_args(hint)))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(hint))
    if origin is tuple:
        return "list"
    if hint is type(None):
        return "none"
    return getattr(hint, "__name__", str(hint))
