"""Money is a Decimal with two places, written as a string beside its currency."""

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def quantize(amount: Decimal | int | str) -> Decimal:
    """Round to cents with banker's rounding, the way totals are kept everywhere."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN)


def money_str(amount: Decimal | int | str) -> str:
    """The wire form of an amount: ``Decimal("19.9")`` -> ``"19.90"``."""
    return str(quantize(amount))
