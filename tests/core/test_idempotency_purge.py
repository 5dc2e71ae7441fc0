"""The hourly purge deletes only keys older than a day: a retry within the day still replays."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.response import Response

from ecommerce.core.idempotency import purge_expired_keys
from ecommerce.core.models import IdempotencyKey
from tests.core.test_idempotency import balance, deposit

pytestmark = pytest.mark.django_db

__all__ = ["deposit"]


def test_the_purge_keeps_keys_younger_than_a_day_and_their_retry_replays(
    deposit: Callable[..., Response],
) -> None:
    first = deposit({"amount": "10.00"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23))
    deposit({"amount": "5.00"}, key="key-2")
    IdempotencyKey.objects.filter(key="key-2").update(
        created_at=timezone.now() - timedelta(days=1, seconds=1)
    )

    assert purge_expired_keys() == 1
    call_command("purge_idempotency_keys", stdout=None)
    again = deposit({"amount": "10.00"})

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["key-1"]
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert again.data == first.data
    assert balance() == (Decimal("15.00"), 2)
