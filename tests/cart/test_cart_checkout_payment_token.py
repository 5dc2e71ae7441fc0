"""Checkout refuses a payment token that is not printable text."""

from decimal import Decimal

import pytest

from apps.cart import services
from apps.inventory.models import Reservation
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory, make_product
from tests.inventory.conftest import counters

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("token", ["tok_\x07ok", "tok_ok\x1b[2J", "tok_\u200bok"])
def test_a_payment_token_with_control_characters_is_refused_and_nothing_is_reserved(
    token: str,
) -> None:
    mug = make_product(price="12.50", stock=5)
    cart = CartFactory.anonymous()
    CartLineFactory(cart=cart, product_id=mug.id, unit_price=Decimal("12.50"), quantity=2)

    with pytest.raises(services.InvalidCheckout) as refused:
        services.cart_checkout(
            cart_id=cart.id, email="shopper@example.com", payment_token=token, cart_token=TOKEN
        )

    assert (refused.value.code, refused.value.attr) == ("invalid", "payment_token")
    cart.refresh_from_db()
    assert (cart.status, cart.payment_token) == ("open", "")
    assert counters(mug.id) == (5, 0)
    assert not Reservation.objects.exists()
