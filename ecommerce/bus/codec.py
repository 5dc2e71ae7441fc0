"""Exact JSON round trip for event dataclasses, guided by their type hints.

Events carry only JSON primitives on the wire: a ``Decimal`` travels as a string (never a
float, so ``"19.90"`` comes back as ``Decimal("19.90")``), a ``UUID`` as its string, a
``datetime`` as ISO 8601. Decoding reads the field types, so what comes back is equal to what
went in. Anything the codec does not know is refused when encoding, not silently mangled.
"""

import dataclasses
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, Union
from uuid import UUID

JSONValue = Any


class DecodeError(ValueError):
    """A stored payload does not fit the event class any more."""


def encode(value: Any) -> JSONValue:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return encode(value.value)
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    raise TypeError(f"{type(value).__name__} is not a JSON-safe event field type")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(tp: Any, value: JSONValue) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [arg for arg in args if arg is not type(None)]
        if len(non_none) != 1:
            raise DecodeError(f"unsupported union {tp}")
        return decode(non_none[0], value)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise DecodeError(f"expected a list for {tp}, got {type(value).__name__}")
        items = [decode(args[0] if args else Any, item) for item in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        _, value_type = typing.get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            raise DecodeError(f"expected an object for {tp}")
        return {key: decode(value_type, item) for key, item in value.items()}
    if tp is Any:
        return value
    if value is None:
        raise DecodeError(f"missing value for {tp}")
    try:
        if tp is Decimal:
            if not isinstance(value, str):
                raise DecodeError("decimals travel as strings")
            return Decimal(value)
        if tp is UUID:
            return UUID(value)
        if tp is datetime:
            return datetime.fromisoformat(value)
        if tp is date:
            return date.fromisoformat(value)
        if isinstance(tp, type) and issubclass(tp, Enum):
            return tp(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise DecodeError(f"{value!r} is not a valid {tp.__name__}: {exc}") from exc
    if dataclasses.is_dataclass(tp):
        return decode_dataclass(tp, value)
    if tp in (str, int, bool):
        if type(value) is not tp:
            raise DecodeError(f"expected {tp.__name__}, got {type(value).__name__}")
        return value
    raise DecodeError(f"unsupported field type {tp}")


def decode_dataclass(cls: Any, data: JSONValue, *, skip: frozenset[str] = frozenset()) -> Any:
    if not isinstance(data, dict):
        raise DecodeError(f"expected an object for {cls.__name__}")
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue  # a field added later, with a default: older payloads still decode
            raise DecodeError(f"{cls.__name__}.{f.name} is missing from the payload")
        kwargs[f.name] = decode(hints[f.name], data[f.name])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"{cls.__name__} cannot be built from the payload: {exc}") from exc
