"""Queueing django-q2 tasks from the apps, and whether a cluster is running them."""

import functools

from django.db.models import Min
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.models import Schedule
from django_q.tasks import async_task


def queue_task(func: str, *args: str, name: str) -> None:
    """Queue ``func(*args)`` on the django-q2 cluster now (call it after commit, or from
    ``transaction.on_commit``: a task must never run ahead of the data it reads)."""
    async_task(func, *args, task_name=name, broker=_broker())


@functools.cache
def _broker() -> Broker:
    """One broker per process. Without it ``async_task`` builds one per task, and the Redis
    broker opens a new connection each time: most of the cost of queueing. (The Redis client
    notices a fork and opens fresh connections in the child.)"""
    return get_broker()


def schedules_overdue_seconds() -> float | None:
    """How long the schedule past its run time the longest has waited, in seconds (``None``:
    none is). A running cluster's scheduler looks every 30 seconds and moves each due
    schedule on, so this stays under a minute while one runs, and grows while none does;
    the one-minute reservation expiry makes that show within minutes."""
    now = timezone.now()
    oldest = (
        Schedule.objects.exclude(repeats=0)
        .filter(next_run__lt=now)
        .aggregate(at=Min("next_run"))["at"]
    )
    return round((now - oldest).total_seconds(), 1) if oldest else None
