"""Request body parsers: DRF's, with every malformed body a 400 ``parse_error``."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, except that these are parse errors like any other malformed JSON,
    not a 500:

    - a body nested deeper than Python can decode (``[[[…``, a few hundred kilobytes);
    - a lone UTF-16 surrogate (``"\\ud800"``): valid JSON, but no text, and a field that
      repeats it in its error message could not be encoded into the response.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        if _holds_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate (\\udXXX).")
        return data


def _holds_lone_surrogate(data: Any) -> bool:
    pending = [data]  # a stack, not recursion: the body may be nested as deep as json allows
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    return True
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
