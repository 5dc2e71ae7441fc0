"""Numbers in request bodies are ASCII digits as a person writes them; Python's readings of
other scripts' digits, underscores and exponents are 400 ``invalid``."""

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from ecommerce.common.fields import DeliverableEmailField, PlainDecimalField, WholeNumberField


@pytest.mark.parametrize(
    ("given", "read"), [(3, 3), ("3", 3), (" -12 ", -12), ("+5", 5), ("007", 7)]
)
def test_a_whole_number_is_read(given: Any, read: int) -> None:
    assert WholeNumberField().run_validation(given) == read


@pytest.mark.parametrize(
    "given",
    ["\u0661", "\U0001d7d9", "1_000", "1e2", "1.0", 1.0, True, "", "3 4", "0x10", "+-3"],
)
def test_anything_else_is_not_a_whole_number(given: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        WholeNumberField().run_validation(given)

    assert raised.value.get_codes() == ["invalid"]


@pytest.mark.parametrize(
    ("given", "read"),
    [("12.50", "12.50"), (12.5, "12.50"), (3, "3.00"), (" 0.5 ", "0.50"), ("+.5", "0.50")],
)
def test_a_plain_decimal_is_read(given: Any, read: str) -> None:
    field = PlainDecimalField(max_digits=12, decimal_places=2)

    assert field.run_validation(given) == Decimal(read)


@pytest.mark.parametrize("given", ["\u0661\u0662.\u0665", "1_000.50", "1e2", "NaN", ".", True])
def test_anything_else_is_not_a_plain_decimal(given: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        PlainDecimalField(max_digits=12, decimal_places=2).run_validation(given)

    assert raised.value.get_codes() == ["invalid"]


@pytest.mark.parametrize(
    "given", ["ann@example.com", "ann@b\u00fccher.example", "ann@" + "\u00fc" * 20 + ".example"]
)
def test_an_email_address_dns_can_carry_is_taken(given: str) -> None:
    assert DeliverableEmailField().run_validation(given) == given


def test_an_email_domain_too_long_once_written_for_dns_is_refused() -> None:
    # 63 letters as written, the most a label may have; in DNS's ASCII, 70.
    given = "x@" + "\u00fc" * 63 + ".com"

    with pytest.raises(ValidationError) as raised:
        DeliverableEmailField().run_validation(given)

    assert raised.value.get_codes() == ["invalid"]
