"""Loading configurations: YAML presets and ``key=value`` overrides into the frozen dataclasses of
:mod:`aucgan.config.schema`.

A preset is a YAML file holding a partial tree of a schema's fields; anything it does not name keeps the
dataclass default. Presets live in ``aucgan/configs/`` (installed with the package), are chosen by name
(``baseline``) or by path, and may ``extends:`` another preset (recursively). Everything is checked when a
config is loaded: unknown presets or keys, types, and every string choice (the ``Literal`` types) are errors
listing the valid names; the generator's variant-specific settings (``generator.regional`` / ``sean`` /
``decomposed``) must match ``generator.variant``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from aucgan.config.schema import LEGACY_HINTS, ConfigError, GeneratorConfig, TrainConfig


def preset_names() -> list[str]:
    """Names of the presets shipped with aucgan."""
    root = resources.files("aucgan") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_preset(preset: str, folder: Path | None = None) -> tuple[dict, str, str, Path | None]:
    """(mapping, where, identity, folder) of a preset name or YAML path; a relative path is looked up in
    ``folder`` (the folder of the file that extends it) first, then from the working directory."""
    path = Path(preset)
    if folder is not None and not path.is_absolute() and (folder / path).is_file():
        path = folder / path
    if preset.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"no such config file: {preset}")
        text, where, ident, folder = path.read_text(), str(path), str(path.resolve()), path.resolve().parent
    else:
        res = resources.files("aucgan") / "configs" / f"{preset}.yaml"
        if not res.is_file():
            raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(preset_names())} "
                              "(or a path to a YAML file)")
        text, where, ident, folder = res.read_text(), f"preset {preset}", f"preset {preset}", None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of config keys")
    return data, where, ident, folder


def _resolve_preset(preset: str, folder: Path | None = None, chain: tuple[tuple[str, str], ...] = ()
                    ) -> tuple[dict, str]:
    """A preset merged over everything it ``extends`` (recursively; a cycle is an error naming the chain)."""
    data, where, ident, folder = _read_preset(preset, folder)
    if any(ident == seen for seen, _ in chain):
        raise ConfigError("extends cycle: " + " -> ".join([*(w for _, w in chain), where]))
    parent = data.pop("extends", None)
    if parent is None:
        return data, where
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{where}: extends must name a preset or a YAML file, got {parent!r}")
    base, _ = _resolve_preset(parent, folder, (*chain, (ident, where)))
    return _deep_merge(base, data), where


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"loss.w_au=3"`` -> (["loss", "w_au"], 3); values are YAML (lists as ``[a,b]``)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value (e.g. loss.w_au=2)")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return [k for k in key.strip().split(".") if k], value


def load_config(preset: str, overrides: list[str] | tuple[str, ...] = (), schema: type = TrainConfig):
    """Load a preset (name or YAML path, with what it ``extends``) and ``key=value`` overrides into a frozen
    ``schema`` instance, checking every key, type and choice."""
    data, where = _resolve_preset(preset)
    for item in overrides:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return from_dict(schema, data, where)


def from_dict(cls: type, data: dict, where: str = "config"):
    """Build dataclass ``cls`` from a nested dict, checking keys and coercing values to the field types
    (``Literal`` fields must hold one of their values)."""
    return _from_dict(cls, data, where, "")


def _at(where: str, path: str) -> str:
    return ": ".join(p for p in (where, path) if p)


def _from_dict(cls: type, data: Any, where: str, path: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{_at(where, path)}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        moved = [LEGACY_HINTS[k] for k in unknown if cls is GeneratorConfig and k in LEGACY_HINTS]
        raise ConfigError(f"{_at(where, path)}: unknown key(s) {', '.join(unknown)} in {cls.__name__}; "
                          f"valid keys: {', '.join(sorted(valid))}" + "".join(f" ({m})" for m in moved))
    kwargs = {k: _coerce(hints[k], v, where, f"{path}.{k}" if path else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a check across fields (__post_init__)
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def _coerce(tp: Any, value: Any, where: str, path: str) -> Any:
    at = _at(where, path)
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, where, path)
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, str) and value in choices:
            return value
        raise ConfigError(f"{at}: {value!r} is not valid; valid values: {', '.join(choices)}")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{at}: invalid value {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{at}: expected a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp)
        return tuple(_coerce(item_tp, v, where, path) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{at}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{at}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{at}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{at}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{at}: expected a string, got {value!r}")
        return value
    return value


def to_dict(config: Any) -> dict:
    """A JSON-ready dict of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def replace_path(config: Any, key: str, value: Any) -> Any:
    """A copy of a nested frozen config with ``key`` ("loss.w_au") set to ``value`` (type-checked)."""
    head, _, rest = key.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ConfigError(f"unknown key {head!r} in {type(config).__name__}; valid keys: {', '.join(sorted(names))}")
    if rest:
        inner = getattr(config, head)
        if not dataclasses.is_dataclass(inner):
            raise ConfigError(f"cannot set {key}: {head!r} is not a section here (got {inner!r})")
        return dataclasses.replace(config, **{head: replace_path(inner, rest, value)})
    hints = typing.get_type_hints(type(config))
    return dataclasses.replace(config, **{head: _coerce(hints[head], value, "", key)})
