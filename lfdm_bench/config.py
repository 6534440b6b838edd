"""Typed configs: dataclasses loaded from YAML with command-line overrides, strict about keys and types.

Every section of an experiment is a dataclass; :func:`from_dict` builds one from plain data and rejects unknown
keys and values of the wrong type with an error naming the key path (``train.lr: expected float, got 'fast'``),
non-finite numbers, and values that break the :data:`FIELD_RULES` of their key's name in any section (a ``name`` that
is a path, a negative ``seed``, ``ckpt_every: 0``, ...).
Overrides are ``dotted.key=value`` strings whose value is parsed as YAML (``train.lr=1e-4``,
``model.dim_mults=[1,2,4]``, ``eval.split=test``). :func:`resolve_config_path` finds the shipped ``configs/*.yaml``
by name.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")

_HERE = Path(__file__).resolve().parent
# the repository's configs/ in a source checkout or editable install, else the copy a wheel installs (lfdm_bench.configs)
_CHECKOUT = (_HERE.parent / "pyproject.toml").is_file() and (_HERE.parent / "cli.py").is_file()
CONFIG_DIR = _HERE.parent / "configs" if _CHECKOUT else _HERE / "configs"


class ConfigError(ValueError):
    """A bad config key or value; the message names the dotted key path and what was expected."""


class ConfigNotFoundError(ConfigError, FileNotFoundError):
    """A config name or path that names no file (the message lists the shipped configs)."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``where``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: expected one of {list(allowed)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for section {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (tuple, list, Sequence, typing.Sequence):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            a = args[0] if args else Any
            items = [_coerce(v, a, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else list(items)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)  # YAML 1.1 reads "1e-4" as a string
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def check_plain_name(value: str, key: str) -> str:
    """``value`` if it is a plain file name (used as a folder or file name under an output folder); else a
    :class:`ConfigError` naming ``key``: no path separator, no ``..``, not empty, no leading dot."""
    if not value or "/" in value or "\\" in value or value.startswith(".") or "\0" in value:
        raise ConfigError(f"{key}: {value!r} is not a plain name (it names an output folder or file: no '/' or "
                          "'\\', not empty, no leading '.'); e.g. my-run")
    return value


def _at_least(low: int, what: str) -> Callable[[Any, str], None]:
    def check(value: Any, key: str) -> None:
        if value is not None and value < low:
            raise ConfigError(f"{key}: must be >= {low} ({what}), got {value!r}")
    return check


def _seed(value: Any, key: str) -> None:
    if value is not None and not 0 <= value < 2**32:
        raise ConfigError(f"{key}: a seed is an integer in [0, 2**32), got {value!r}")


def _betas(value: Any, key: str) -> None:
    if value is not None and not all(0 <= b < 1 for b in value):
        raise ConfigError(f"{key}: Adam's betas lie in [0, 1), got {list(value)!r} (e.g. [0.9, 0.999])")


def _positive(value: Any, key: str) -> None:
    if value is not None and not value > 0:
        raise ConfigError(f"{key}: must be > 0, got {value!r}")


# Rules every config field of this name obeys, in whatever section: checked by from_dict, so every config (run,
# benchmark, detector, --set overrides) gets them, with the full key in the message.
FIELD_RULES: dict[str, Callable[[Any, str], Any]] = {
    "name": lambda v, key: check_plain_name(v, key) if isinstance(v, str) else None,
    "seed": _seed,
    "lr": _positive,
    "betas": _betas,
    "log_every": _at_least(1, "steps between log lines"),
    "ckpt_every": _at_least(1, "steps between checkpoints"),
    "sample_every": _at_least(0, "steps between previews; 0 = only at the end"),
}


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types raise :class:`ConfigError`."""
    data = dict(data or {})
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(prefix + k for k in unknown)}; "
            f"valid keys{' of ' + where if where else ''}: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    for k, v in kwargs.items():
        if k in FIELD_RULES:
            FIELD_RULES[k](v, f"{where}.{k}" if where else k)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {e}") from e
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain data (tuples become lists) suitable for YAML/JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def parse_override(item: str) -> tuple[list[str], Any]:
    """``'train.lr=1e-4'`` -> (['train', 'lr'], 1e-4). The value is parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. train.lr=1e-4")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r}: bad key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({e})") from e
    return key.split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """Set dotted keys in a nested dict (returns a new dict). Validation happens in :func:`from_dict`."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = child
        node[path[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigNotFoundError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from e
    if data is None:
        raise ConfigError(f"{path} is empty: a config holds at least one section (e.g. `data:`); start from a copy of "
                          f"a file in {CONFIG_DIR}, or leave --config out for the default config")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Load ``cls`` from a YAML file (or its defaults when ``path`` is None) and apply ``overrides``."""
    data = load_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path is not None else str(e)) from None


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, default_flow_style=None)


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A YAML path, or the name of a shipped config (``synth-faces-cpu`` -> ``configs/synth-faces-cpu.yaml``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = CONFIG_DIR / (p.name if p.suffix else f"{p.name}.yaml")
    if shipped.is_file():
        return shipped
    names = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")) if CONFIG_DIR.is_dir() else []
    raise ConfigNotFoundError(f"config {name_or_path!r} not found; give a YAML path or one of: {', '.join(names)}")
