"""Request bodies: DRF's parsers, with every malformed body a 400 ``parse_error``, and no
field a client sends silently ignored."""

from collections.abc import Mapping
from typing import Any, NoReturn

from rest_framework import parsers, serializers
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.settings import api_settings

from ecommerce.common.text import is_text, strings_in

# A browsable-API or HTML form (session auth) sends its CSRF token as a field.
CSRF_FIELD = "csrfmiddlewaretoken"
# At most this many unknown fields are named in one answer: a body of a hundred thousand
# keys took seconds of a worker and megabytes to answer, one error per key.
UNKNOWN_FIELDS_NAMED = 20
UNKNOWN_FIELD = "unknown_field"


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
        if not all(is_text(value) for value in strings_in(data)):
            raise ParseError("JSON parse error - a string holds a lone surrogate (\\udXXX).")
        return data


def no_body(request: Any) -> None:
    """For a ``POST`` that takes no body: none, or ``{}``. A malformed body is a 400
    ``parse_error``, and a field is a 400 ``unknown_field``; a client that sends one means
    something by it (a refund's ``amount``), and must not have it silently ignored."""
    data = request.data  # parses the body, if any
    detail = "This request takes no body."
    if isinstance(data, Mapping):
        fields = [name for name in data if name != CSRF_FIELD]
        if fields:
            refuse_unknown_fields(fields, detail)
    elif data:
        raise ValidationError(ErrorDetail(detail, code=UNKNOWN_FIELD))


def refuse_unknown_fields(names: list[str], detail: str) -> NoReturn:
    """400 ``unknown_field`` for each of ``names`` (the first ``UNKNOWN_FIELDS_NAMED``, and
    how many more there are)."""
    errors = {
        name: ErrorDetail(detail, code=UNKNOWN_FIELD) for name in names[:UNKNOWN_FIELDS_NAMED]
    }
    if len(names) > UNKNOWN_FIELDS_NAMED:
        more = len(names) - UNKNOWN_FIELDS_NAMED
        errors[api_settings.NON_FIELD_ERRORS_KEY] = ErrorDetail(
            f"And {more} more fields this request does not take, not named here.",
            code=UNKNOWN_FIELD,
        )
    raise ValidationError(errors)


class KnownFieldsOnly(serializers.Serializer):
    """An input serializer that refuses fields it does not take (400 ``unknown_field``),
    where DRF would drop them: a typo, or a field this request cannot change, is told so
    rather than answered 200 with nothing changed.

    ``echoed``: fields of the resource as read that a client may send back with its change
    (a PATCH of the body it got, one field edited); they are dropped, and the view checks
    that they were sent unchanged where that matters.
    """

    echoed: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [
                name
                for name in data
                if name not in self.fields and name not in self.echoed and name != CSRF_FIELD
            ]
            if unknown:
                known = ", ".join(self.fields)
                refuse_unknown_fields(
                    unknown, f"Not a field this request takes (it takes: {known})."
                )
        return super().to_internal_value(data)
