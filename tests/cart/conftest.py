from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from ecommerce.bus.models import OutboxEvent


@pytest.fixture
def cart_events() -> Callable[..., list[tuple[str, dict[str, Any]]]]:
    """The cart events in the outbox, oldest first: [(type, payload), ...]."""

    def read(*types: str) -> list[tuple[str, dict[str, Any]]]:
        rows = OutboxEvent.objects.filter(aggregate_type="cart").order_by("id")
        if types:
            rows = rows.filter(event_type__in=[f"cart.{t}" for t in types])
        return [(row.event_type.removeprefix("cart."), row.payload) for row in rows]

    return read


@pytest.fixture
def anon_api() -> Callable[[str], APIClient]:
    """An anonymous client that sends ``X-Cart-Token``."""

    def make(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_X_CART_TOKEN=token)
        return client

    return make
