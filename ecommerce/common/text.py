"""Text a client or another service sent, checked before the shop keeps or repeats it."""

from collections.abc import Iterator
from typing import Any


def strings_in(data: Any) -> Iterator[str]:
    """Every string of decoded JSON, keys included. A stack, not recursion: the data may be
    nested as deep as the JSON decoder allows."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def is_text(value: str) -> bool:
    """Whether ``value`` is text: not holding a lone UTF-16 surrogate (``"\\ud800"``), which
    JSON may carry but which no database column stores and no response can encode."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
