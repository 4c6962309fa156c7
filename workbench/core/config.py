"""Typed, validated, frozen lab configs.

A lab's config is a frozen dataclass whose fields are declared with
:func:`option`, which records a default, help text, a unit and constraints::

    @dataclass(frozen=True)
    class ToyConfig:
        seeds: int = option(200, help="networks per task", unit="networks", ge=1)
        lr: float = option(1e-2, help="learning rate", gt=0)
        widths: tuple[int, ...] = option((16, 16), help="hidden widths", ge=1, min_len=1)

The same validation serves TOML files, ``--set key=value`` overrides and the
TUI's config form, so a bad value gets the same message everywhere: it names
the key, the value and what is allowed (:class:`~workbench.core.errors.ConfigError`).

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``tuple[T, ...]``
of those, ``dict[str, T]`` (a TOML table) and ``T | None``. TOML has no null,
so a ``None`` value is left out when a config is written and comes back as the
default when read; labs should prefer real defaults to ``None``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

from workbench.core.errors import ConfigError, WorkbenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "ConfigFileError",
    "FieldSpec",
    "build_config",
    "config_fields",
    "config_to_dict",
    "load_config_file",
    "option",
    "parse_override",
    "parse_value",
    "toml_value_text",
    "validate_field",
]

C = TypeVar("C")

_META = "workbench"


class ConfigFileError(WorkbenchError):
    """A config file is missing or is not valid TOML."""


@dataclass(frozen=True)
class _Constraints:
    help: str
    unit: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    min_len: int | None = None
    max_len: int | None = None


def option(
    default: Any,
    *,
    help: str,
    unit: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | list[Any] | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
) -> Any:
    """Declare a config field with its default, help text, unit and constraints.

    Bounds (``ge``, ``gt``, ``le``, ``lt``) and ``choices`` apply to the value, or to
    every item of a tuple or every value of a table; ``min_len``/``max_len`` apply to
    the length of a tuple or table.

    Args:
        default: The default value. Lists are stored as tuples and dicts are copied
            per instance, so configs never share mutable state.
        help: One line a researcher reads in ``--help``, the TUI form and run.toml docs.
        unit: Unit of the value (``"steps"``, ``"bits"``), or empty.

    Returns:
        A ``dataclasses.field`` carrying the metadata.
    """
    meta = {
        _META: _Constraints(
            help=help,
            unit=unit,
            ge=ge,
            gt=gt,
            le=le,
            lt=lt,
            choices=tuple(choices) if choices is not None else None,
            min_len=min_len,
            max_len=max_len,
        )
    }
    if isinstance(default, list):
        default = tuple(default)
    if isinstance(default, dict):
        frozen = dict(default)
        return dataclasses.field(default_factory=lambda: dict(frozen), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """Everything a form or a help page needs to know about one config field."""

    name: str
    type_label: str
    default: Any
    help: str
    unit: str
    allowed: str


def config_fields(cls: type[Any]) -> list[FieldSpec]:
    """Describe the fields of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        cons = _constraints(f)
        default = _default_of(f)
        specs.append(
            FieldSpec(
                name=f.name,
                type_label=_type_label(hints[f.name]),
                default=default,
                help=cons.help,
                unit=cons.unit,
                allowed=_allowed_text(hints[f.name], cons),
            )
        )
    return specs


def build_config(
    cls: type[C],
    values: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
) -> C:
    """Validate ``values`` against ``cls`` and build the frozen config.

    Missing keys take their defaults. The dataclass's ``__post_init__`` may raise
    :class:`ConfigError` for checks that involve several fields.

    Raises:
        ConfigError: for an unknown key, a wrong type or a value out of range.
    """
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in values.items():
        if key not in known:
            raise ConfigError(key, value, _unknown_key_text(key, list(known)), source)
    hints = typing.get_type_hints(cls)
    kwargs = {
        key: _coerce(key, value, hints[key], _constraints(known[key]), source)
        for key, value in values.items()
    }
    try:
        return cls(**kwargs)
    except ConfigError as err:
        if source and err.source is None:
            raise ConfigError(err.key, err.value, err.allowed, source) from None
        raise


def validate_field(cls: type[Any], key: str, text: str) -> Any:
    """Parse and validate one field typed as text (the TUI form uses this).

    Raises:
        ConfigError: with the same message the CLI would give.
    """
    known = {f.name: f for f in dataclasses.fields(cls)}
    try:
        value = parse_value(text)
    except ConfigError as err:  # name the field, not the anonymous "(value)"
        raise ConfigError(key, text, err.allowed) from None
    if key not in known:
        raise ConfigError(key, value, _unknown_key_text(key, list(known)))
    hint = typing.get_type_hints(cls)[key]
    return _coerce(key, value, hint, _constraints(known[key]), None)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Turn a config into plain TOML-ready data, every default written out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = _to_plain(getattr(config, f.name))
        if value is not None:
            out[f.name] = value
    return out


def parse_value(text: str) -> Any:
    """Parse a value as TOML; a bare word that is not TOML is taken as a string.

    ``"[16, 16]"`` gives ``[16, 16]``, ``'["first-bit"]'`` a list of strings,
    ``"1e-3"`` a float and ``"tanh"`` the string ``"tanh"``.
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        stripped = text.strip()
        if stripped and not any(ch in stripped for ch in "[]{}\"'=\n"):
            return stripped
        raise ConfigError(
            "(value)", text, 'a TOML value, e.g. 3, 1e-3, true, "tanh" or [16, 16]'
        ) from None


def parse_override(item: str) -> tuple[str, Any]:
    """Split a ``--set key=value`` item and parse the value (see :func:`parse_value`)."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(item, item, "expected key=value, e.g. --set lr=1e-3", "--set")
    try:
        return key, parse_value(text)
    except ConfigError:
        raise ConfigError(
            key, text, 'a TOML value, e.g. 3, 1e-3, true, "tanh" or [16, 16]', "--set"
        ) from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read config values from a TOML file.

    A file with a ``[config]`` table (such as a run's ``run.toml``) contributes that
    table; any other file contributes its top-level keys.

    Raises:
        ConfigFileError: if the file is missing or is not valid TOML.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigFileError(f"config file {path} cannot be read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigFileError(f"config file {path} is not valid TOML: {err}") from None
    table = data.get("config", data)
    if not isinstance(table, dict):
        raise ConfigFileError(f"config file {path}: [config] must be a table")
    return table


# --- internals ----------------------------------------------------------------------------


def _constraints(f: dataclasses.Field[Any]) -> _Constraints:
    cons = f.metadata.get(_META)
    if cons is None:
        return _Constraints(help="")
    return typing.cast(_Constraints, cons)


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _unknown_key_text(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key; {hint}known keys: {', '.join(known)}"


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def _type_label(hint: Any) -> str:
    inner, optional = _unwrap_optional(hint)
    origin = typing.get_origin(inner)
    if origin is tuple:
        label = f"list of {_type_label(typing.get_args(inner)[0])}"
    elif origin is dict:
        label = f"table of {_type_label(typing.get_args(inner)[1])}"
    else:
        label = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
            inner, str(inner)
        )
    return f"{label} or none" if optional else label


def _allowed_text(hint: Any, cons: _Constraints) -> str:
    """Words for what a field accepts, e.g. 'an integer >= 1' or 'one of relu, tanh'."""
    inner, _ = _unwrap_optional(hint)
    origin = typing.get_origin(inner)
    item_hint = inner
    parts: list[str] = []
    if origin is tuple:
        item_hint = typing.get_args(inner)[0]
        parts.append(f"a list of {_type_label(item_hint)}s")
    elif origin is dict:
        item_hint = typing.get_args(inner)[1]
        parts.append(f"a table of {_type_label(item_hint)}s")
    if cons.min_len is not None or cons.max_len is not None:
        lo = cons.min_len if cons.min_len is not None else 0
        parts.append(f"with {lo}..{cons.max_len if cons.max_len is not None else 'any'} items")
    scalar = []
    if cons.choices is not None:
        scalar.append("one of " + ", ".join(str(c) for c in cons.choices))
    for sym, bound in ((">=", cons.ge), (">", cons.gt), ("<=", cons.le), ("<", cons.lt)):
        if bound is not None:
            scalar.append(f"{sym} {bound:g}")
    if not parts and not scalar:
        return _a(_type_label(inner))
    if parts and scalar:
        return " ".join(parts) + ", each " + " and ".join(scalar)
    if parts:
        return " ".join(parts)
    if cons.choices is not None and len(scalar) == 1:
        return scalar[0]
    return _a(_type_label(item_hint)) + " " + " and ".join(scalar)


def _a(noun: str) -> str:
    """'an integer', 'a number'."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _coerce(key: str, value: Any, hint: Any, cons: _Constraints, source: str | None) -> Any:
    inner, optional = _unwrap_optional(hint)
    allowed = _allowed_text(hint, cons)
    if cons.help:
        allowed = f"{allowed} ({cons.help})"

    def fail() -> ConfigError:
        return ConfigError(key, value, f"must be {allowed}", source)

    if value is None:
        if optional:
            return None
        raise fail()
    origin = typing.get_origin(inner)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise fail()
        item_hint = typing.get_args(inner)[0]
        items = tuple(_coerce_scalar(v, item_hint) for v in value)
        if any(item is _BAD for item in items):
            raise fail()
        _check_len(len(items), cons, fail)
        for item in items:
            _check_scalar(item, cons, fail)
        return items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise fail()
        item_hint = typing.get_args(inner)[1]
        table = {str(k): _coerce_scalar(v, item_hint) for k, v in value.items()}
        if any(v is _BAD for v in table.values()):
            raise fail()
        _check_len(len(table), cons, fail)
        for item in table.values():
            _check_scalar(item, cons, fail)
        return table
    result = _coerce_scalar(value, inner)
    if result is _BAD:
        raise fail()
    _check_scalar(result, cons, fail)
    return result


_BAD = object()


def _coerce_scalar(value: Any, hint: Any) -> Any:
    inner, optional = _unwrap_optional(hint)
    if value is None and optional:
        return None
    if inner is bool:
        return value if isinstance(value, bool) else _BAD
    if inner is int:
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, int):
            return value
        # TOML writes 1e3 as a float; accept it when it is a whole number.
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return _BAD
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _BAD
        return float(value)
    if inner is str:
        return value if isinstance(value, str) else _BAD
    origin = typing.get_origin(inner)
    if origin is tuple and isinstance(value, (list, tuple)):
        item_hint = typing.get_args(inner)[0]
        items = tuple(_coerce_scalar(v, item_hint) for v in value)
        return _BAD if any(i is _BAD for i in items) else items
    return _BAD


def _check_len(n: int, cons: _Constraints, fail: typing.Callable[[], ConfigError]) -> None:
    if (cons.min_len is not None and n < cons.min_len) or (
        cons.max_len is not None and n > cons.max_len
    ):
        raise fail()


def _check_scalar(value: Any, cons: _Constraints, fail: typing.Callable[[], ConfigError]) -> None:
    if cons.choices is not None and value not in cons.choices:
        raise fail()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise fail()
        if (
            (cons.ge is not None and value < cons.ge)
            or (cons.gt is not None and value <= cons.gt)
            or (cons.le is not None and value > cons.le)
            or (cons.lt is not None and value >= cons.lt)
        ):
            raise fail()


def _to_plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items() if v is not None}
    return value


def toml_value_text(value: Any) -> str:
    """A value written as the TOML a user types after ``--set key=``.

    ``3``, ``1e-3``, ``"tanh"``, ``["first-bit", "random-lookup"]``, ``[16, 16]``,
    ``{name = "0110"}``; tuples read as lists, and everything stays on one line.
    """
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        # An inline table, the one-line form of a TOML table: {name = "0110"}.
        items = ", ".join(f"{_toml_key(str(k))} = {toml_value_text(v)}" for k, v in value.items())
        return "{" + (f" {items} " if items else "") + "}"
    line = tomli_w.dumps({"v": value})
    return line.partition("=")[2].strip()


def _toml_key(key: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return toml_value_text(key)
