"""Argument types shared by the management commands: bad values are usage errors."""

import argparse
import math

# Ten years: longer than anything the shop keeps waiting, and well inside what a timedelta
# taken from now can hold.
MAX_SECONDS = 10 * 365 * 24 * 3600


def seconds(value: str) -> float:
    """A duration in seconds: a finite number from 0 to ``MAX_SECONDS``."""
    try:
        parsed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(parsed) or not 0 <= parsed <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{value!r}: seconds must be a number from 0 to {MAX_SECONDS:,}"
        )
    return parsed
