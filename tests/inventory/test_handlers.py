"""Inventory's subscriptions: products and payments events drive stock and reservations."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from django.db import transaction
from django.utils import timezone

from apps.inventory import handlers, services
from apps.inventory.models import Reservation, Stock, StockMovement
from apps.inventory.services import StockDTO
from apps.payments.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
from apps.products.events import ProductCreated
from ecommerce.bus import Event, publish
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.relay import Relay
from tests.inventory.conftest import counters, lines

pytestmark = pytest.mark.django_db(transaction=True)


def publish_committed(event: Event) -> None:
    with transaction.atomic():
        publish(event)


def product_created(product_id: UUID, sku: str = "MUG-1") -> ProductCreated:
    return ProductCreated(
        product_id=product_id,
        sku=sku,
        name="Mug",
        price=Decimal("9.90"),
        currency="EUR",
        status="active",
    )


def payment(event_class: type[Event], cart_id: UUID, **extra: str) -> Event:
    return event_class(
        payment_id=uuid4(),
        cart_id=cart_id,
        amount=Decimal("19.80"),
        currency="EUR",
        email="shopper@example.com",
        **extra,
    )


def reserved(stocked: Callable[..., StockDTO], quantity: int = 2) -> UUID:
    mug = stocked(10)
    cart_id = uuid4()
    services.reservation_create(reference=cart_id, lines=lines((mug.product_id, quantity)))
    return cart_id


def status(cart_id: UUID) -> str:
    return Reservation.objects.get(reference=cart_id).status


def test_a_created_product_gets_an_empty_stock_once() -> None:
    product_id = uuid4()
    event = product_created(product_id)

    publish_committed(event)
    handlers.on_product_created(event)  # a redelivery changes nothing

    stock = Stock.objects.get()
    assert (stock.product_id, stock.sku, stock.on_hand, stock.reserved) == (
        product_id,
        "MUG-1",
        0,
        0,
    )
    assert Delivery.objects.get(subscriber="inventory.create_stock").status == "delivered"


def test_a_created_product_that_already_has_stock_keeps_it(
    stocked: Callable[..., StockDTO],
) -> None:
    mug = stocked(7)

    publish_committed(product_created(mug.product_id, sku=mug.sku))

    assert counters(mug.product_id) == (7, 0)


def test_a_successful_payment_commits_the_carts_reservation(
    stocked: Callable[..., StockDTO],
) -> None:
    cart_id = reserved(stocked)
    event = payment(PaymentSucceeded, cart_id)

    publish_committed(event)
    handlers.on_payment_succeeded(event)  # safe to run twice

    assert status(cart_id) == "committed"
    assert [
        row.payload["payment_id"]
        for row in OutboxEvent.objects.filter(event_type="inventory.StockCommitted")
    ] == [str(event.payment_id)]
    assert counters(Reservation.objects.get().lines.get().product_id) == (8, 0)


def test_a_payment_after_expiry_commits_nothing_and_its_refund_returns_nothing(
    stocked: Callable[..., StockDTO],
) -> None:
    cart_id = reserved(stocked)
    Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    services.reservations_expire_due()
    product_id = Reservation.objects.get().lines.get().product_id

    # The order expired, so payments refunds a charge that landed anyway (CartExpired).
    publish_committed(payment(PaymentSucceeded, cart_id))
    publish_committed(payment(PaymentRefunded, cart_id))

    assert status(cart_id) == "expired"
    assert counters(product_id) == (10, 0)
    movements = StockMovement.objects.filter(reference=cart_id).order_by("id")
    assert list(movements.values_list("kind", "on_hand_delta", "reserved_delta")) == [
        ("reservation", 0, 2),
        ("expiry", 0, -2),
    ]
    assert set(
        Delivery.objects.filter(
            subscriber__in=["inventory.commit_reservation", "inventory.return_reservation"]
        ).values_list("subscriber", "status")
    ) == {
        ("inventory.commit_reservation", "delivered"),
        ("inventory.return_reservation", "delivered"),
    }


def test_a_refund_of_a_released_reservation_returns_nothing(
    stocked: Callable[..., StockDTO],
) -> None:
    cart_id = reserved(stocked)
    publish_committed(
        payment(PaymentFailed, cart_id, failure_code="gateway_unavailable", reason="No answer.")
    )

    publish_committed(payment(PaymentRefunded, cart_id))  # the gateway charged after all

    assert status(cart_id) == "released"
    assert counters(Reservation.objects.get().lines.get().product_id) == (10, 0)
    refund = Delivery.objects.get(subscriber="inventory.return_reservation")
    assert (refund.status, refund.last_error) == ("delivered", "")


def test_a_failed_payment_releases_the_carts_reservation(
    stocked: Callable[..., StockDTO],
) -> None:
    cart_id = reserved(stocked)
    event = payment(
        PaymentFailed, cart_id, failure_code="payment_declined", reason="The card was declined."
    )

    publish_committed(event)
    handlers.on_payment_failed(event)

    assert status(cart_id) == "released"
    assert Reservation.objects.get().release_reason == "payment_declined"
    assert counters(Reservation.objects.get().lines.get().product_id) == (10, 0)


def test_a_refund_returns_the_sold_units(stocked: Callable[..., StockDTO]) -> None:
    cart_id = reserved(stocked)
    publish_committed(payment(PaymentSucceeded, cart_id))
    event = payment(PaymentRefunded, cart_id)

    publish_committed(event)
    handlers.on_payment_refunded(event)

    assert status(cart_id) == "returned"
    assert counters(Reservation.objects.get().lines.get().product_id) == (10, 0)


def test_a_refund_that_overtakes_the_commit_waits_for_it(stocked: Callable[..., StockDTO]) -> None:
    cart_id = reserved(stocked)

    publish_committed(payment(PaymentRefunded, cart_id))

    refund = Delivery.objects.get(subscriber="inventory.return_reservation")
    assert (refund.status, refund.attempts) == ("pending", 1)
    assert "ReservationNotCommitted" in refund.last_error

    publish_committed(payment(PaymentSucceeded, cart_id))
    Delivery.objects.filter(pk=refund.pk).update(next_attempt_at=timezone.now())
    Relay().drain()

    assert status(cart_id) == "returned"
    assert counters(Reservation.objects.get().lines.get().product_id) == (10, 0)
