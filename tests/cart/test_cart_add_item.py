"""Adding a product to a cart: a snapshot from products, checked against availability."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from apps.cart import services
from apps.cart.models import Cart, CartLine
from apps.products import services as products
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory, make_product

pytestmark = pytest.mark.django_db

Events = Callable[..., list[tuple[str, dict[str, Any]]]]


def test_a_product_is_added_with_a_snapshot_of_its_sku_name_and_price(
    cart_events: Events,
) -> None:
    cart = CartFactory.anonymous()
    product = make_product(price="19.99", stock=5, name="Blue mug")

    dto = services.cart_add_item(
        cart_id=cart.id, product_id=product.id, quantity=2, cart_token=TOKEN
    )

    [item] = dto.items
    assert (item.product_id, item.sku, item.name, item.unit_price, item.quantity) == (
        product.id,
        product.sku,
        "Blue mug",
        Decimal("19.99"),
        2,
    )
    assert (item.line_total, dto.total) == (Decimal("39.98"), Decimal("39.98"))
    assert cart_events() == [
        (
            "CartItemAdded",
            {
                "cart_id": str(cart.id),
                "product_id": str(product.id),
                "sku": product.sku,
                "quantity": 2,
                "line_quantity": 2,
                "unit_price": "19.99",
            },
        )
    ]


def test_adding_the_same_product_again_raises_its_lines_quantity(cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=5)
    services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=2, cart_token=TOKEN)

    dto = services.cart_add_item(
        cart_id=cart.id, product_id=product.id, quantity=3, cart_token=TOKEN
    )

    assert [(i.product_id, i.quantity) for i in dto.items] == [(product.id, 5)]
    assert CartLine.objects.count() == 1
    assert [(p["quantity"], p["line_quantity"]) for _, p in cart_events()] == [(2, 2), (3, 5)]


def test_adding_takes_the_current_price_for_the_whole_line() -> None:
    cart = CartFactory.anonymous()
    product = make_product(price="10.00")
    services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN)
    products.product_change_price(product_id=product.id, price=Decimal("12.00"))

    dto = services.cart_add_item(
        cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN
    )

    assert (dto.items[0].unit_price, dto.total) == (Decimal("12.00"), Decimal("24.00"))


def assert_nothing_added(cart: Cart, cart_events: Events) -> None:
    assert not CartLine.objects.filter(cart=cart).exists()
    assert cart_events() == []


def test_an_unknown_product_is_not_found(cart_events: Events) -> None:
    cart = CartFactory.anonymous()

    with pytest.raises(products.ProductNotFound):
        services.cart_add_item(cart_id=cart.id, product_id=uuid4(), quantity=1, cart_token=TOKEN)

    assert_nothing_added(cart, cart_events)


def test_a_discontinued_product_is_unavailable(cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product()
    products.product_discontinue(product_id=product.id)

    with pytest.raises(services.ProductUnavailable):
        services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN)

    assert_nothing_added(cart, cart_events)


def test_a_draft_is_not_found_as_in_the_catalog(cart_events: Events) -> None:
    # Shoppers are not told that an unpublished product exists.
    cart = CartFactory.anonymous()
    product = make_product(status="draft")

    with pytest.raises(products.ProductNotFound):
        services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN)

    assert_nothing_added(cart, cart_events)


def test_more_than_is_available_is_out_of_stock(cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=3)

    with pytest.raises(services.OutOfStock) as raised:
        services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=4, cart_token=TOKEN)

    assert raised.value.code == "out_of_stock"
    assert raised.value.detail == f"Only 3 of {product.sku} available."
    assert_nothing_added(cart, cart_events)


def test_the_line_as_a_whole_is_checked_against_availability(cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=3)
    services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=2, cart_token=TOKEN)

    with pytest.raises(services.OutOfStock):
        services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=2, cart_token=TOKEN)

    assert CartLine.objects.get().quantity == 2
    assert len(cart_events()) == 1


@pytest.mark.parametrize("quantity", [0, -1, 101, True, 1.5, "2"])
def test_a_quantity_that_is_not_1_to_100_is_invalid(quantity: Any, cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=500)

    with pytest.raises(services.InvalidQuantity):
        services.cart_add_item(
            cart_id=cart.id, product_id=product.id, quantity=quantity, cart_token=TOKEN
        )

    assert_nothing_added(cart, cart_events)


def test_a_line_holds_at_most_100_units() -> None:
    cart = CartFactory.anonymous()
    product = make_product(stock=500)
    services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=99, cart_token=TOKEN)

    with pytest.raises(services.InvalidQuantity):
        services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=2, cart_token=TOKEN)

    assert CartLine.objects.get().quantity == 99


def test_a_checked_out_cart_takes_no_more_items(cart_events: Events) -> None:
    cart = CartFactory.anonymous(status="paid", checked_out_at="2026-01-01T00:00:00Z")
    product = make_product()

    with pytest.raises(services.CartNotOpen):
        services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN)

    assert_nothing_added(cart, cart_events)


def test_someone_elses_cart_is_not_found(cart_events: Events) -> None:
    cart = CartFactory.anonymous()
    product = make_product()

    with pytest.raises(services.CartNotFound):
        services.cart_add_item(
            cart_id=cart.id, product_id=product.id, quantity=1, cart_token="not-the-token"
        )

    assert_nothing_added(cart, cart_events)


def test_a_cart_of_as_many_products_as_it_holds_refuses_another_but_adds_to_its_lines(
    cart_events: Events,
) -> None:
    cart = CartFactory.anonymous()
    mug = make_product(stock=5)
    services.cart_add_item(cart_id=cart.id, product_id=mug.id, quantity=1, cart_token=TOKEN)
    CartLine.objects.bulk_create(CartLineFactory.build_batch(services.MAX_LINES - 1, cart=cart))
    one_more = make_product(stock=5)
    before = cart_events()

    with pytest.raises(services.CartFull) as refused:
        services.cart_add_item(
            cart_id=cart.id, product_id=one_more.id, quantity=1, cart_token=TOKEN
        )
    dto = services.cart_add_item(cart_id=cart.id, product_id=mug.id, quantity=1, cart_token=TOKEN)

    assert (refused.value.status, refused.value.code) == (409, "cart_full")
    assert len(dto.items) == services.MAX_LINES
    assert not CartLine.objects.filter(product_id=one_more.id).exists()
    assert [i.quantity for i in dto.items if i.product_id == mug.id] == [2]
    assert cart_events()[len(before) :] == [
        (
            "CartItemAdded",
            {
                "cart_id": str(cart.id),
                "product_id": str(mug.id),
                "sku": mug.sku,
                "quantity": 1,
                "line_quantity": 2,
                "unit_price": "10.00",
            },
        )
    ]
