"""What other apps' events do to carts; each handler is safe to run twice."""

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db import transaction
from django.utils import timezone

from apps.cart import handlers
from apps.cart.models import Cart, CartLine
from apps.inventory.events import ReservationExpired, StockCommitted
from apps.payments.events import PaymentFailed, PaymentSucceeded
from apps.payments.models import FakeGatewayRequest
from apps.products import services as products
from apps.products.events import ProductDiscontinued, ProductPriceChanged
from ecommerce.accounts.models import User
from ecommerce.bus import publish
from ecommerce.bus.models import Delivery
from ecommerce.bus.operations import ReplaySlice, replay
from ecommerce.bus.registry import subscribers_of
from ecommerce.bus.relay import Relay
from tests.cart.factories import CartFactory, CartLineFactory, make_product
from tests.payments.factories import PaymentFactory

Events = Callable[..., list[tuple[str, dict[str, Any]]]]
MUG = UUID("00000000-0000-0000-0000-0000000000a1")
TEA = UUID("00000000-0000-0000-0000-0000000000a2")
PAYMENT = UUID("00000000-0000-0000-0000-0000000000f1")


def checked_out_cart(**kwargs: Any) -> Cart:
    cart = CartFactory(
        status="checked_out", checked_out_at="2026-01-01T00:00:00Z", email="ann@example.com"
    )
    CartLineFactory(cart=cart, unit_price=Decimal("12.50"), quantity=2, **kwargs)
    return cart


def test_the_handlers_are_subscribed_under_stable_names() -> None:
    assert {
        event_type: [s.name for s in subscribers_of(event_type) if s.name.startswith("cart.")]
        for event_type in [
            "products.ProductDiscontinued",
            "products.ProductPriceChanged",
            "payments.PaymentSucceeded",
            "payments.PaymentFailed",
            "inventory.StockCommitted",
            "inventory.ReservationExpired",
        ]
    } == {
        "products.ProductDiscontinued": ["cart.drop_product"],
        "products.ProductPriceChanged": ["cart.reprice_product"],
        "payments.PaymentSucceeded": [],  # paid only once the stock is committed
        "payments.PaymentFailed": ["cart.mark_payment_failed"],
        "inventory.StockCommitted": ["cart.mark_paid_on_commit"],
        "inventory.ReservationExpired": ["cart.expire"],
    }


# -- products ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_discontinued_product_leaves_every_open_cart_once(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    user = make_user("ann@example.com")
    open_cart, users_cart = CartFactory(), CartFactory(owner=user)
    for cart in (open_cart, users_cart):
        CartLineFactory(cart=cart, product_id=MUG, sku="MUG", name="Mug", quantity=2)
        CartLineFactory(cart=cart, product_id=TEA)
    ordered = checked_out_cart(product_id=MUG)
    event = ProductDiscontinued(product_id=MUG, sku="MUG", name="Mug")

    handlers.on_product_discontinued(event)
    handlers.on_product_discontinued(event)

    assert list(open_cart.lines.values_list("product_id", flat=True)) == [TEA]
    assert list(users_cart.lines.values_list("product_id", flat=True)) == [TEA]
    assert ordered.lines.get().product_id == MUG
    removed = sorted(
        ((p["cart_id"], p["reason"], p["quantity"], p["email"]) for _, p in cart_events()),
        key=lambda r: r[0],
    )
    assert removed == sorted(
        [
            (str(open_cart.id), "product_discontinued", 2, None),
            (str(users_cart.id), "product_discontinued", 2, "ann@example.com"),
        ]
    )


@pytest.mark.django_db
def test_a_price_change_reprices_open_carts_only() -> None:
    mug = make_product(price="8.00")  # the price the event set
    open_line = CartLineFactory(product_id=mug.id, unit_price=Decimal("10.00"))
    ordered = checked_out_cart(product_id=mug.id)
    event = ProductPriceChanged(
        product_id=mug.id,
        sku="MUG",
        name="Mug",
        old_price=Decimal("10.00"),
        new_price=Decimal("8.00"),
        currency="EUR",
    )

    handlers.on_product_price_changed(event)
    handlers.on_product_price_changed(event)

    open_line.refresh_from_db()
    assert open_line.unit_price == Decimal("8.00")
    assert ordered.lines.get().unit_price == Decimal("12.50")


@pytest.mark.django_db(transaction=True)
def test_the_bus_delivers_catalog_changes_to_carts() -> None:
    product = products.product_create(sku="MUG", name="Mug", price=Decimal("10.00"))
    changed, dropped = CartFactory(), CartFactory()
    CartLineFactory(cart=changed, product_id=product.id)
    other = products.product_create(sku="TEA", name="Tea", price=Decimal("3.00"))
    CartLineFactory(cart=dropped, product_id=other.id)

    products.product_change_price(product_id=product.id, price=Decimal("9.00"))
    products.product_discontinue(product_id=other.id)

    assert changed.lines.get().unit_price == Decimal("9.00")
    assert not dropped.lines.exists()


@pytest.mark.django_db(transaction=True)
def test_replaying_an_old_price_change_leaves_open_carts_at_the_current_price() -> None:
    mug = products.product_create(sku="MUG", name="Mug", price=Decimal("10.00"))
    line = CartLineFactory(product_id=mug.id, unit_price=Decimal("10.00"))
    products.product_change_price(product_id=mug.id, price=Decimal("8.00"))
    between = timezone.now()
    products.product_change_price(product_id=mug.id, price=Decimal("9.00"))
    assert line_price(line) == Decimal("9.00")

    replayed = replay(  # an operator replays the older change only
        ReplaySlice(
            subscriber="cart.reprice_product",
            event_type="products.ProductPriceChanged",
            until=between,
        )
    )
    Relay().drain()

    assert replayed == 1
    assert line_price(line) == Decimal("9.00")
    assert set(
        Delivery.objects.filter(subscriber="cart.reprice_product").values_list("status", flat=True)
    ) == {"delivered"}


def line_price(line: CartLine) -> Decimal:
    line.refresh_from_db()
    return line.unit_price


# -- payments and reservations ----------------------------------------------------------------


def succeeded(cart: Cart) -> PaymentSucceeded:
    return PaymentSucceeded(
        payment_id=PAYMENT,
        cart_id=cart.id,
        amount=Decimal("25.00"),
        currency="EUR",
        email="ann@example.com",
    )


def committed(cart: Cart, payment_id: UUID | None = PAYMENT) -> StockCommitted:
    return StockCommitted(reference=cart.id, lines=(), payment_id=payment_id)


def failed(cart: Cart) -> PaymentFailed:
    return PaymentFailed(
        payment_id=PAYMENT,
        cart_id=cart.id,
        amount=Decimal("25.00"),
        currency="EUR",
        email="ann@example.com",
        failure_code="payment_declined",
        reason="The card was declined.",
    )


@pytest.mark.django_db
def test_the_committed_stock_of_a_paid_order_marks_it_paid_once(cart_events: Events) -> None:
    cart = checked_out_cart()

    handlers.on_stock_committed(committed(cart))
    handlers.on_stock_committed(committed(cart))

    cart.refresh_from_db()
    assert (cart.status, cart.payment_id) == ("paid", PAYMENT)
    assert cart_events() == [
        (
            "CartPaid",
            {
                "cart_id": str(cart.id),
                "user_id": None,
                "email": "ann@example.com",
                "payment_id": str(PAYMENT),
                "total": "25.00",
                "currency": "EUR",
            },
        )
    ]


@pytest.mark.django_db
def test_a_failed_payment_marks_the_order_failed_once(cart_events: Events) -> None:
    cart = checked_out_cart()

    handlers.on_payment_failed(failed(cart))
    handlers.on_payment_failed(failed(cart))

    cart.refresh_from_db()
    assert (cart.status, cart.failure_code) == ("payment_failed", "payment_declined")
    assert [(t, p["failure_code"], p["total"]) for t, p in cart_events()] == [
        ("CartPaymentFailed", "payment_declined", "25.00")
    ]


@pytest.mark.django_db
def test_a_payment_failed_because_the_order_expired_leaves_the_expired_order_quietly(
    cart_events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    cart = checked_out_cart()
    handlers.on_reservation_expired(ReservationExpired(reference=cart.id, lines=()))
    event = failed(cart)

    handlers.on_payment_failed(replace(event, failure_code="order_expired"))

    cart.refresh_from_db()
    assert (cart.status, cart.failure_code, cart.payment_id) == ("expired", "", None)
    assert [t for t, _ in cart_events()] == ["CartExpired"]
    assert "not moving it" not in caplog.text


@pytest.mark.django_db
def test_an_expired_reservation_expires_the_checked_out_order_once(cart_events: Events) -> None:
    cart = checked_out_cart()
    event = ReservationExpired(reference=cart.id, lines=())

    handlers.on_reservation_expired(event)
    handlers.on_reservation_expired(event)

    cart.refresh_from_db()
    assert cart.status == "expired"
    assert cart_events() == [
        (
            "CartExpired",
            {
                "cart_id": str(cart.id),
                "user_id": None,
                "email": "ann@example.com",
                "total": "25.00",
                "currency": "EUR",
            },
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_an_expired_order_keeps_its_outcome_and_a_payment_that_landed_anyway_is_refunded(
    cart_events: Events,
) -> None:
    cart = checked_out_cart()
    payment = PaymentFactory(cart_id=cart.id, succeeded=True, amount=Decimal("25.00"))
    with transaction.atomic():
        publish(ReservationExpired(reference=cart.id, lines=()))

    with transaction.atomic():
        publish(succeeded(cart))  # the cart does not take a payment alone as paid

    cart.refresh_from_db()
    payment.refresh_from_db()
    assert cart.status == "expired"
    assert [t for t, _ in cart_events()] == ["CartExpired"]
    assert payment.status == "refunded"
    assert FakeGatewayRequest.objects.get(operation="refund").idempotency_key == (
        f"refund:{payment.id}"
    )


@pytest.mark.django_db
def test_outcomes_for_open_or_unknown_carts_change_nothing(cart_events: Events) -> None:
    cart = CartFactory()

    handlers.on_stock_committed(committed(cart))
    handlers.on_stock_committed(committed(checked_out_cart(), payment_id=None))
    handlers.on_reservation_expired(ReservationExpired(reference=uuid4(), lines=()))

    assert sorted(Cart.objects.values_list("status", flat=True)) == ["checked_out", "open"]
    assert cart_events() == []
