"""Who listens to what. Subscriptions are explicit, made in each app's ``AppConfig.ready()``::

    subscribe(CartCheckedOut, payment_start_for_checkout, name="payments.start_payment")

A subscriber's name is its identity in the delivery table, so it must stay stable: renaming
one orphans its pending deliveries. Names look like ``<app>.<what it does>``.
"""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

from ecommerce.bus.conf import KAFKA_PRODUCER
from ecommerce.bus.events import Event
from ecommerce.remote import serving

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*$")

Handler = Callable[[Any], None]
E = TypeVar("E", bound=Event)


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    event_type: str
    handler: Handler


_by_name: dict[str, Subscription] = {}
_by_event_type: dict[str, list[Subscription]] = {}


def subscribe(event_class: type[E], handler: Callable[[E], None], *, name: str) -> None:
    """Deliver every ``event_class`` event published from now on to ``handler``.

    The handler runs inside the transaction that marks the delivery done, so what it writes
    to the database happens exactly once. It must be safe to run again (replay).
    """
    if not (isinstance(event_class, type) and issubclass(event_class, Event)):
        raise ImproperlyConfigured(f"subscribe() takes an Event class, not {event_class!r}")
    if not NAME_PATTERN.match(name):
        raise ImproperlyConfigured(
            f"subscriber name {name!r} must look like 'app.what_it_does' (lowercase)"
        )
    if name in _by_name:
        raise ImproperlyConfigured(f"subscriber name {name!r} is used twice")
    if name == KAFKA_PRODUCER:
        raise ImproperlyConfigured(f"subscriber name {name!r} is reserved for the kafka transport")
    subscription = Subscription(
        name=name,
        event_type=event_class.event_type,
        handler=_on_behalf_of(name.partition(".")[0], handler),
    )
    _by_name[name] = subscription
    _by_event_type.setdefault(subscription.event_type, []).append(subscription)


def _on_behalf_of(app: str, handler: Handler) -> Handler:
    """A subscriber is part of its app: what it calls of its own app runs in this process,
    even where the app's services are otherwise called over HTTP (ecommerce.remote)."""

    @functools.wraps(handler)
    def handle(event: Any) -> None:
        with serving(app):
            handler(event)

    return handle


def unsubscribe(name: str) -> None:
    """Remove a subscription (tests that add their own subscribers clean up with this)."""
    subscription = _by_name.pop(name)
    _by_event_type[subscription.event_type].remove(subscription)


def subscribers_of(event_type: str) -> list[Subscription]:
    return _by_event_type.get(event_type, [])


def subscription(name: str) -> Subscription:
    try:
        return _by_name[name]
    except KeyError:
        raise LookupError(f"unknown subscriber {name!r}") from None


def subscriptions() -> list[Subscription]:
    return sorted(_by_name.values(), key=lambda s: s.name)
