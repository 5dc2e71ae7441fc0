"""insert_unless_exists: one INSERT that skips a duplicate and leaves the transaction usable."""

from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import IntegrityError, transaction

from apps.payments.models import FakeGatewayRequest, Payment
from ecommerce.common.db import insert_unless_exists

pytestmark = pytest.mark.django_db


def gateway_request(key: str, calls: int = 1) -> FakeGatewayRequest:
    return FakeGatewayRequest(
        idempotency_key=key,
        operation=FakeGatewayRequest.Operation.CHARGE,
        payment_id=uuid4(),
        amount=Decimal("9.99"),
        currency="EUR",
        calls=calls,
    )


def payment(*, cart_id: object, idempotency_key: str) -> Payment:
    return Payment(
        cart_id=cart_id,
        email="shopper@example.com",
        amount=Decimal("9.99"),
        currency="EUR",
        gateway="fake",
        payment_token="tok_ok",
        idempotency_key=idempotency_key,
    )


def test_a_new_row_is_inserted_with_its_auto_primary_key_and_defaults() -> None:
    request = gateway_request("key-1")

    assert insert_unless_exists(request, unique_fields=["idempotency_key"]) is True

    stored = FakeGatewayRequest.objects.get(idempotency_key="key-1")
    assert request.pk == stored.pk
    assert request._state.adding is False
    assert stored.calls == 1
    assert stored.outcome == FakeGatewayRequest.Outcome.PENDING
    assert stored.created_at is not None
    assert stored.created_at == request.created_at


def test_a_duplicate_is_skipped_and_the_first_row_stays_as_it_was() -> None:
    assert insert_unless_exists(gateway_request("key-1"), unique_fields=["idempotency_key"])
    second = gateway_request("key-1", calls=7)

    with transaction.atomic():
        assert insert_unless_exists(second, unique_fields=["idempotency_key"]) is False
        # No error was raised inside the transaction, so it goes on without a savepoint.
        assert FakeGatewayRequest.objects.count() == 1

    assert second.pk is None
    assert second._state.adding is True
    assert FakeGatewayRequest.objects.get().calls == 1


def test_a_client_side_primary_key_is_kept() -> None:
    new = payment(cart_id=uuid4(), idempotency_key="charge:1")
    chosen = new.pk

    assert insert_unless_exists(new, unique_fields=["cart_id"]) is True

    assert Payment.objects.get(cart_id=new.cart_id).pk == chosen == new.pk


def test_a_conflict_on_another_unique_constraint_still_raises() -> None:
    assert insert_unless_exists(
        payment(cart_id=uuid4(), idempotency_key="charge:1"), unique_fields=["cart_id"]
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_unless_exists(
            payment(cart_id=uuid4(), idempotency_key="charge:1"), unique_fields=["cart_id"]
        )

    assert Payment.objects.count() == 1
