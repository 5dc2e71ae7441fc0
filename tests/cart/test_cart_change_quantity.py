"""Changing a line's quantity, and removing a line."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from apps.cart import services
from apps.cart.models import CartLine
from apps.products import services as products
from ecommerce.accounts.models import User
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory, make_product

pytestmark = pytest.mark.django_db

Events = Callable[..., list[tuple[str, dict[str, Any]]]]


def test_a_lines_quantity_is_set(cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=10, price="2.50")
    added = services.cart_add_item(
        cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN
    )

    dto = services.cart_change_quantity(
        cart_id=cart.id, item_id=added.items[0].id, quantity=4, cart_token=TOKEN
    )

    assert [(i.quantity, i.line_total) for i in dto.items] == [(4, Decimal("10.00"))]
    assert cart_events("CartItemQuantityChanged") == [
        (
            "CartItemQuantityChanged",
            {
                "cart_id": str(cart.id),
                "product_id": str(product.id),
                "sku": product.sku,
                "old_quantity": 1,
                "new_quantity": 4,
            },
        )
    ]


def test_lowering_a_quantity_needs_no_stock_check(cart_events: Events) -> None:
    # The product is gone from the catalog, yet the shopper may still take fewer.
    line = CartLineFactory(cart=CartFactory.anonymous(), quantity=5)

    dto = services.cart_change_quantity(
        cart_id=line.cart_id, item_id=line.id, quantity=2, cart_token=TOKEN
    )

    assert dto.items[0].quantity == 2


def test_the_same_quantity_changes_nothing(cart_events: Events) -> None:
    line = CartLineFactory(cart=CartFactory.anonymous(), quantity=2)

    dto = services.cart_change_quantity(
        cart_id=line.cart_id, item_id=line.id, quantity=2, cart_token=TOKEN
    )

    assert dto.items[0].quantity == 2
    assert cart_events() == []


def test_raising_beyond_what_is_available_is_out_of_stock(cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=3)
    added = services.cart_add_item(
        cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN
    )

    with pytest.raises(services.OutOfStock):
        services.cart_change_quantity(
            cart_id=cart.id, item_id=added.items[0].id, quantity=4, cart_token=TOKEN
        )

    assert CartLine.objects.get().quantity == 1
    assert cart_events("CartItemQuantityChanged") == []


def test_raising_a_discontinued_product_is_refused() -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=3)
    added = services.cart_add_item(
        cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN
    )
    products.product_discontinue(product_id=product.id)

    with pytest.raises(services.ProductUnavailable):
        services.cart_change_quantity(
            cart_id=cart.id, item_id=added.items[0].id, quantity=2, cart_token=TOKEN
        )


@pytest.mark.parametrize("quantity", [0, -3, 101])
def test_a_quantity_outside_1_to_100_is_invalid(quantity: int) -> None:
    line = CartLineFactory(cart=CartFactory.anonymous(), quantity=2)

    with pytest.raises(services.InvalidQuantity):
        services.cart_change_quantity(
            cart_id=line.cart_id, item_id=line.id, quantity=quantity, cart_token=TOKEN
        )

    assert CartLine.objects.get().quantity == 2


def test_an_item_of_another_cart_is_not_found() -> None:
    mine = CartFactory.anonymous()
    other_line = CartLineFactory(cart=CartFactory.anonymous(token="other"))

    with pytest.raises(services.CartItemNotFound):
        services.cart_change_quantity(
            cart_id=mine.id, item_id=other_line.id, quantity=1, cart_token=TOKEN
        )
    with pytest.raises(services.CartItemNotFound):
        services.cart_remove_item(cart_id=mine.id, item_id=uuid4(), cart_token=TOKEN)


def test_removing_a_line_publishes_why(cart_events: Events, make_user: Callable[..., User]) -> None:
    user = make_user("ann@example.com")
    cart = CartFactory(owner=user)
    line = CartLineFactory(cart=cart, sku="MUG", name="Blue mug", quantity=2)
    CartLineFactory(cart=cart, sku="TEA")

    dto = services.cart_remove_item(cart_id=cart.id, item_id=line.id, user_id=user.pk)

    assert [i.sku for i in dto.items] == ["TEA"]
    assert cart_events() == [
        (
            "CartItemRemoved",
            {
                "cart_id": str(cart.id),
                "product_id": str(line.product_id),
                "sku": "MUG",
                "name": "Blue mug",
                "quantity": 2,
                "reason": "removed_by_customer",
                "user_id": str(user.pk),
                "email": "ann@example.com",
            },
        )
    ]


def test_a_checked_out_cart_keeps_its_lines(cart_events: Events) -> None:
    cart = CartFactory.anonymous(status="checked_out", checked_out_at="2026-01-01T00:00:00Z")
    line = CartLineFactory(cart=cart)

    with pytest.raises(services.CartNotOpen):
        services.cart_remove_item(cart_id=cart.id, item_id=line.id, cart_token=TOKEN)
    with pytest.raises(services.CartNotOpen):
        services.cart_change_quantity(
            cart_id=cart.id, item_id=line.id, quantity=3, cart_token=TOKEN
        )

    assert CartLine.objects.get().quantity == 1
    assert cart_events() == []
