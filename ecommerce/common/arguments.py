"""Argument types shared by the management commands: bad values are usage errors."""

import argparse
import math
from collections.abc import Callable

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


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argument type: a whole number from ``minimum`` to ``maximum``."""

    def parse(value: str) -> int:
        try:
            parsed = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not minimum <= parsed <= maximum:
            raise argparse.ArgumentTypeError(
                f"{value!r}: must be a whole number from {minimum:,} to {maximum:,}"
            )
        return parsed

    return parse


# How long a worker waits for work between looks: not zero (it would spin), not for hours.
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 0.01, 3600


def poll_seconds(value: str) -> float:
    """A poll interval in seconds, from ``MIN_POLL_SECONDS`` to ``MAX_POLL_SECONDS``."""
    parsed = seconds(value)
    if not MIN_POLL_SECONDS <= parsed <= MAX_POLL_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{value!r}: a poll interval is from {MIN_POLL_SECONDS} to {MAX_POLL_SECONDS:,} seconds"
        )
    return parsed


# Deliveries or messages one pass takes at most.
batch_size = whole_number(1, 10_000)
