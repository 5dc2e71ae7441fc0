from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from ecommerce.bus import Event, publish
from ecommerce.bus.relay import Relay


@pytest.fixture
def deferred_bus(settings: SettingsWrapper) -> None:
    """Turn eager delivery off: events wait for an explicit relay pass, as in production."""
    settings.BUS_EAGER = False


@pytest.fixture
def relay(deferred_bus: None) -> Relay:
    return Relay()


@pytest.fixture
def publish_committed() -> Callable[..., list[Event]]:
    def run(*events: Event) -> list[Event]:
        with transaction.atomic():
            return [publish(e) for e in events]

    return run


def due_now(**filters: Any) -> None:
    """Pretend the backoff has passed: make matching pending deliveries due now."""
    from django.utils import timezone

    from ecommerce.bus.models import Delivery

    Delivery.objects.filter(status="pending", **filters).update(next_attempt_at=timezone.now())
