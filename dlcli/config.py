"""Configuration: dataclasses filled from a YAML file, then from command-line options.

Every task describes its run as nested dataclasses (model, data, training). A YAML file
gives any subset of their fields by section; options typed on the command line win over
the file; unknown keys are errors that suggest the closest known name. The resolved
configuration is written into the run folder so a run can always be reproduced.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from dlcli.errors import ConfigError

T = TypeVar("T")


def to_dict(config: Any) -> Any:
    """A dataclass (possibly nested) as plain YAML/JSON/checkpoint-safe values."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {field.name: to_dict(getattr(config, field.name)) for field in dataclasses.fields(config)}
    if isinstance(config, enum.Enum):
        return config.value
    if isinstance(config, Path):
        return str(config)
    if isinstance(config, (list, tuple)):
        return [to_dict(value) for value in config]
    if isinstance(config, Mapping):
        return {str(key): to_dict(value) for key, value in config.items()}
    return config


def closest_key(key: str, known: list[str]) -> str | None:
    """The one known name nearest to ``key``: spelling first, then a shared word (``n_epochs`` -> ``epochs``)."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    if close:
        return close[0]
    words = [w for w in key.lower().replace("-", "_").split("_") if len(w) >= 3]

    def shares_a_word(name: str) -> bool:
        return any(p.startswith(w) or w.startswith(p) for p in name.split("_") if len(p) >= 3 for w in words)

    sharing = [name for name in known if shares_a_word(name)]
    return min(sharing, key=lambda name: (len(name.split("_")), len(name))) if sharing else None


def choices(name: str, values) -> type[enum.Enum]:
    """A command-line choice enum built from a registry (its keys or names), so the two cannot drift apart."""
    return enum.Enum(name, {str(value): str(value) for value in values}, type=str)


def _unknown_key(key: str, known: list[str], where: str, source: str) -> ConfigError:
    # one suggestion, not a list of every key: a list buries the answer
    close = closest_key(key, known)
    hint = f" (did you mean '{close}'?)" if close else " (no key looks like it)"
    section = f" in section '{where}'" if where else ""
    return ConfigError(f"{source}: unknown key '{key}'{section}{hint}")


def _coerce(value: Any, annotation: Any, name: str, source: str) -> Any:
    """Convert a YAML value to the field's declared type, or explain why it cannot be."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, name, source)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{source}: '{name}' must be one of {', '.join(map(str, allowed))}, not {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{name}' must be a list, not {value!r}")
        args = typing.get_args(annotation)
        item_type = args[0] if args else Any
        items = [_coerce(item, item_type, name, source) for item in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: '{name}' must be a section of keys, not {value!r}")
        return from_dict(annotation, value, source=source, where=name)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if isinstance(value, annotation):
            return value
        try:
            return annotation(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in annotation)
            raise ConfigError(f"{source}: '{name}' must be one of {allowed}, not {value!r}") from None
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: '{name}' must be true or false, not {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{source}: '{name}' must be a number, not {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{source}: '{name}' must be an integer, not {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{source}: '{name}' must be text, not {value!r}")
    if annotation is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{source}: '{name}' must be a path, not {value!r}")
    return value


def from_dict(cls: type[T], values: Mapping[str, Any], *, source: str = "config", where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types; missing keys keep defaults."""
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise _unknown_key(str(key), list(fields), where, source)
        dotted = f"{where}.{key}" if where else key
        kwargs[key] = _coerce(value, hints[key], dotted, source)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{source}: {error}") from None


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _merge(base: dict, update: Mapping) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys, not {type(data).__name__}")
    return dict(data)


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: T | None = None,
) -> T:
    """Resolve a configuration: ``base`` (or the defaults) < YAML file < ``overrides``.

    ``overrides`` maps dotted names (``"train.lr"``) to values; ``None`` values are
    ignored, so command-line options that were not given leave the file's values alone.
    """
    tree: dict = to_dict(base) if base is not None else {}
    source = "config"
    if path is not None:
        tree = _merge(tree, read_yaml(path))
        source = str(path)
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    if given:
        option_tree: dict = {}
        for key, value in given.items():
            _set_dotted(option_tree, key, to_dict(value))
        tree = _merge(tree, option_tree)
        if path is None:
            source = "options"
    return from_dict(cls, tree, source=source)


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved configuration as YAML, atomically."""
    import yaml

    from dlcli.files import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False))
