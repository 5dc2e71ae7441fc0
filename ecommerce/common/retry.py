"""Retrying later: the one backoff every retry in the shop uses, and one-off task schedules."""

import random
from datetime import datetime


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter": between half and all of base * 2^(attempt-1),
    capped at ``cap``. Each wait is at least as long as the one before it could have been."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not security


def schedule_task_once(*, name: str, func: str, args: tuple[str, ...], run_at: datetime) -> None:
    """Run ``func(*args)`` once at ``run_at`` on the django-q2 cluster.

    Created in the caller's transaction, so the retry exists if and only if it commits.
    """
    from django_q.models import Schedule

    Schedule.objects.create(
        name=name,
        func=func,
        args=", ".join(repr(a) for a in args) if len(args) != 1 else repr(args[0]),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=run_at,
    )
