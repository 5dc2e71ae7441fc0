"""Number fields that take a number as written in ASCII digits, and nothing else.

DRF's own read any digits Python's ``int`` and ``Decimal`` do: ``"\u0661"`` (an
Arabic-Indic one) as 1, ``"1_000"`` as 1000, ``"1e2"`` as 100. A client that sends those
meant something else (or is probing), so they are 400 ``invalid`` like any other malformed
number.
"""

import re
from typing import Any

from rest_framework import serializers

_WHOLE = re.compile(r"\s*[-+]?[0-9]+\s*")
# Also for query parameters (django-filter's number filters, whose form fields read the same).
PLAIN_DECIMAL = re.compile(r"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*")


class WholeNumberField(serializers.IntegerField):
    """An integer, and only that: ``2.0``, ``"2.5"``, ``true`` and the above are not."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool | float) or (isinstance(data, str) and not _WHOLE.fullmatch(data)):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class PlainDecimalField(serializers.DecimalField):
    """A decimal as a JSON number or a plain string (``"12.50"``), and not the above."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or (isinstance(data, str) and not PLAIN_DECIMAL.fullmatch(data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class DeliverableEmailField(serializers.EmailField):
    """An email address a mail server can be given. Django's check takes a domain of
    non-ASCII letters by the length of its labels as written; written for DNS (IDNA, as
    Django's SMTP backend sends it), a label may outgrow the 63 characters DNS allows, and
    every email to that address would fail when sent. Refused when the address is given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(_encodes_for_dns)


def _encodes_for_dns(value: str) -> None:
    try:
        value.rpartition("@")[2].encode("idna")
    except UnicodeError:
        raise serializers.ValidationError("Enter a valid email address.", code="invalid") from None
