"""Retrying later: the one backoff every retry in the shop uses, and one-off task schedules."""

import ast
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
        args=_as_schedule_args(args),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=run_at,
    )


def scheduled_arguments(func: str) -> set[tuple[str, ...]]:
    """The arguments of every schedule of ``func`` not run yet, as ``schedule_task_once``
    was given them."""
    from django_q.models import Schedule

    found: set[tuple[str, ...]] = set()
    for args in Schedule.objects.filter(func=func).values_list("args", flat=True):
        value = ast.literal_eval(args) if args else ()
        found.add(value if isinstance(value, tuple) else (value,))
    return found


def cancel_scheduled(func: str, *args: str) -> None:
    """Delete the schedules of ``func(*args)`` not run yet."""
    from django_q.models import Schedule

    Schedule.objects.filter(func=func, args=_as_schedule_args(args)).delete()


def _as_schedule_args(args: tuple[str, ...]) -> str:
    # How django-q2 reads a schedule's args: a Python literal, a tuple unless there is one.
    return ", ".join(repr(a) for a in args) if len(args) != 1 else repr(args[0])
