"""Queueing django-q2 tasks from the apps."""

import functools

from django_q.brokers import Broker, get_broker
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
