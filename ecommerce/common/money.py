"""Money is a Decimal with two places, written as a string beside its currency."""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

CENT = Decimal("0.01")
# The most one amount column holds (12 digits, 2 of them decimals): a price, a payment.
MAX_AMOUNT: Final = Decimal("9999999999.99")


def quantize(amount: Decimal | int | str) -> Decimal:
    """Round to cents with banker's rounding, the way totals are kept everywhere."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN)


def money_str(amount: Decimal | int | str) -> str:
    """The wire form of an amount: ``Decimal("19.9")`` -> ``"19.90"``."""
    return str(quantize(amount))
