"""Checkout with inventory over HTTP, on PostgreSQL (the live server has connections of its
own): a renewal that inventory gets to only after the checkout that asked for it gave up
must not remake the reservation the shopper's next checkout placed its order on."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.cart import services
from apps.cart.models import CartLine
from apps.inventory import services as inventory
from ecommerce.common.errors import ServiceUnavailable
from tests.cart.factories import TOKEN, make_product
from tests.cart.test_cart_checkout import cart_with, checkout, interrupted_checkout

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_renewal_that_outlives_its_checkout_leaves_the_next_checkouts_order_alone(
    over_http: Callable[..., str], settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    mug, tea = make_product(stock=5), make_product(stock=5)
    cart = cart_with((mug, 2))
    over_http("inventory")
    interrupted_checkout(cart, (mug, 2))  # checkout #0 reserved 2 mugs, then failed
    services.cart_add_item(cart_id=cart.id, product_id=tea.id, quantity=1, cart_token=TOKEN)

    # Inventory is slow to get to the renewal request (a busy worker, a queue, a GC pause):
    # the server side of reservation_create waits before it touches the database.
    original, arrived, go_on = inventory._reservation_create, threading.Event(), threading.Event()
    finished = threading.Event()

    def slow(**kwargs: Any) -> Any:
        if kwargs["renewing_expires_at"] is None or arrived.is_set():
            return original(**kwargs)
        arrived.set()
        go_on.wait(10)
        try:
            return original(**kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(inventory, "_reservation_create", slow)

    # Checkout A: the reservation (2 mugs) does not hold the cart (2 mugs + a tea): A asks
    # for a renewal, its client times out, 503, the cart stays open.
    settings.SERVICE_TIMEOUT_SECONDS = 0.5
    settings.SERVICE_RETRIES = 0
    with pytest.raises(ServiceUnavailable):
        checkout(cart)
    assert arrived.is_set()

    # The shopper takes the tea out and checks out again (B): the reservation holds exactly
    # the cart, 2 mugs, so B places the order on it as it is. (The gateway is slow to answer,
    # so the payment is still pending and the reservation active: tok_flaky.)
    tea_line = CartLine.objects.get(cart=cart, product_id=tea.id)
    services.cart_remove_item(cart_id=cart.id, item_id=tea_line.id, cart_token=TOKEN)
    assert checkout(cart, payment_token="tok_flaky").status == "checked_out"

    # Now inventory gets to A's renewal.
    go_on.set()
    assert finished.wait(10)

    # B took the reservation up (a new expires_at), so the renewal was stale: the order placed
    # is 2 mugs, its reservation is still 2 mugs, and no tea is held.
    lines = [
        (line.sku, line.quantity) for line in inventory.reservation_get(reference=cart.id).lines
    ]
    assert lines == [(mug.sku, 2)]
    assert inventory.stock_get(product_id=tea.id).reserved == 0
