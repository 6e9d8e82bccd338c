"""A YAML mapping -> typed, frozen dataclasses, with errors that name the full key.

The generic half of params loading (``params.py`` declares the sections): each value is
coerced to its field's annotation (int, float, bool, str, None, Literal, unions, tuple[X, ...]
and nested dataclasses); an unknown key gets a did-you-mean. Dataclasses validate their own
ranges in ``__post_init__`` with ``check``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Union


class ParamsError(ValueError):
    """A params.yaml key is unknown, of the wrong type or out of range."""


def check(ok: bool, key: str, message: str) -> None:
    """Raise ``ParamsError("params: 'KEY' MESSAGE")`` unless ``ok``."""
    if not ok:
        raise ParamsError(f"params: '{key}' {message}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Return ``value`` as type ``tp`` or raise ParamsError naming ``key``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(arg, value, key)
            except ParamsError:
                continue
    elif origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin is tuple:
        (item, _ellipsis) = typing.get_args(tp)  # only tuple[X, ...] is used
        if isinstance(value, (list, tuple)):
            return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        # PyYAML reads 1e-3 (no dot) as a string; accept it as the float a user meant.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a type this loader does not know is a bug here, not in params.yaml
        raise TypeError(f"params loader cannot handle type {tp!r} of {key}")
    raise ParamsError(f"params: '{key}' must be {_type_name(tp)}, got {value!r}")


def build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"params: '{prefix or 'params.yaml'}' must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean '{prefix + '.' if prefix else ''}{close[0]}'?)" if close else ""
            raise ParamsError(f"params: unknown key '{key}'{hint}; known keys: {', '.join(known)}")
        kwargs[name] = _coerce(hints[name], value, key)
    return cls(**kwargs)


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """Params -> {'train.lr_g': 0.0002, 'lambda_pix': 100.0, ...} (for MLflow)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, key + "."))
        else:
            out[key] = value
    return out


def to_dict(params: Any) -> dict[str, Any]:
    """Params -> plain nested dict (saved inside checkpoints)."""
    return dataclasses.asdict(params)
