"""Checkout: one transaction reserves every line, records how to pay, and places the order."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from django.utils import timezone

from apps.cart import services
from apps.cart.models import Cart
from apps.inventory import services as inventory
from apps.inventory.models import Reservation
from apps.products import services as products
from apps.products.models import Product
from ecommerce.accounts.models import User
from ecommerce.common.money import MAX_AMOUNT
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory, make_product

pytestmark = pytest.mark.django_db

Events = Callable[..., list[tuple[str, dict[str, Any]]]]


def cart_with(*lines: tuple[Any, int], owner: User | None = None) -> Cart:
    cart = CartFactory.anonymous(owner=owner)
    for product, quantity in lines:
        services.cart_add_item(
            cart_id=cart.id,
            product_id=product.id,
            quantity=quantity,
            cart_token=TOKEN,
            user_id=owner.pk if owner else None,
        )
    return cart


def checkout(cart: Cart, **overrides: Any) -> services.CartDTO:
    args: dict[str, Any] = {
        "cart_id": cart.id,
        "email": "ann@example.com",
        "payment_token": "tok_ok",
        "cart_token": TOKEN,
        **overrides,
    }
    return services.cart_checkout(**args)


def test_checkout_reserves_every_line_and_places_the_order(cart_events: Events) -> None:
    mug, tea = make_product(price="4.50", stock=5), make_product(price="0.99", stock=2)
    cart = cart_with((mug, 3), (tea, 2))

    dto = checkout(cart)

    assert (dto.status, dto.email, dto.total) == (
        "checked_out",
        "ann@example.com",
        Decimal("15.48"),
    )
    assert dto.checked_out_at is not None
    reservation = inventory.reservation_get(reference=cart.id)
    assert reservation.status == "active"
    assert sorted((r.product_id, r.quantity) for r in reservation.lines) == sorted(
        [(mug.id, 3), (tea.id, 2)]
    )
    assert (
        inventory.stock_get(product_id=mug.id).reserved,
        inventory.stock_get(product_id=mug.id).available,
    ) == (3, 2)
    row = Cart.objects.get()
    assert (row.status, row.payment_token) == ("checked_out", "tok_ok")
    [(_, payload)] = cart_events("CartCheckedOut")
    assert payload == {
        "cart_id": str(cart.id),
        "user_id": None,
        "email": "ann@example.com",
        "lines": [
            {
                "product_id": str(line.product_id),
                "sku": line.sku,
                "name": line.name,
                "unit_price": str(line.unit_price),
                "quantity": line.quantity,
            }
            for line in row.lines.all()
        ],
        "total": "15.48",
        "currency": "EUR",
        "payment_token": "tok_ok",
        # Payments charges nothing after it.
        "reserved_until": reservation.expires_at.isoformat(),
    }


def test_a_signed_in_shoppers_order_names_them(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    user = make_user()
    cart = cart_with((make_product(), 1), owner=user)

    checkout(cart, user_id=user.pk, cart_token=None)

    [(_, payload)] = cart_events("CartCheckedOut")
    assert payload["user_id"] == str(user.pk)


def test_a_signed_in_shopper_checking_out_an_anonymous_cart_gets_the_order(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    # Browsed anonymously, signed in at checkout without claiming the cart first.
    user = make_user()
    cart = cart_with((make_product(), 1))

    dto = checkout(cart, user_id=user.pk)

    assert dto.owner_id == user.pk
    assert Cart.objects.get().owner_id == user.pk
    [(_, payload)] = cart_events("CartCheckedOut")
    assert payload["user_id"] == str(user.pk)
    assert services.cart_get(cart_id=cart.id, user_id=user.pk).status == "checked_out"
    with pytest.raises(services.CartNotFound):
        services.cart_get(cart_id=cart.id, cart_token=TOKEN)


def test_an_anonymous_checkout_leaves_the_cart_anonymous() -> None:
    cart = cart_with((make_product(), 1))

    checkout(cart)

    assert Cart.objects.get().owner_id is None
    assert services.cart_get(cart_id=cart.id, cart_token=TOKEN).status == "checked_out"


def test_when_one_line_is_short_nothing_is_reserved_and_the_cart_stays_open(
    cart_events: Events,
) -> None:
    plenty, scarce = make_product(stock=10), make_product(stock=2)
    cart = cart_with((plenty, 4), (scarce, 2))
    inventory.stock_adjust(product_id=scarce.id, delta=-1, reason="broken in the warehouse")

    with pytest.raises(services.OutOfStock) as raised:
        checkout(cart)

    assert raised.value.code == "out_of_stock"
    assert Cart.objects.get().status == "open"
    assert Cart.objects.get().email == ""
    assert inventory.stock_get(product_id=plenty.id).reserved == 0
    assert inventory.stock_get(product_id=scarce.id).reserved == 0
    with pytest.raises(inventory.ReservationNotFound):
        inventory.reservation_get(reference=cart.id)
    assert cart_events("CartCheckedOut") == []


@pytest.mark.parametrize(
    "withdraw",
    [
        pytest.param(
            lambda p: products.product_update(product_id=p.id, status="draft"), id="draft"
        ),
        pytest.param(lambda p: products.product_discontinue(product_id=p.id), id="discontinued"),
        pytest.param(lambda p: Product.objects.filter(pk=p.id).delete(), id="deleted"),
    ],
)
def test_a_product_no_longer_for_sale_is_refused_and_nothing_is_reserved(
    cart_events: Events, withdraw: Callable[[products.ProductDTO], Any]
) -> None:
    mug, tea = make_product(stock=10), make_product(stock=10)
    cart = cart_with((mug, 1), (tea, 2))
    withdraw(tea)  # the cart's handler has not removed it yet (or never will: draft)

    with pytest.raises(services.ProductUnavailable) as raised:
        checkout(cart)

    assert (raised.value.code, raised.value.status, raised.value.attr) == (
        "product_unavailable",
        409,
        str(tea.id),
    )
    assert (Cart.objects.get().status, Cart.objects.get().email) == ("open", "")
    assert inventory.stock_get(product_id=mug.id).reserved == 0
    with pytest.raises(inventory.ReservationNotFound):
        inventory.reservation_get(reference=cart.id)
    assert cart_events("CartCheckedOut") == []


def _line_of(cart: Cart, product: products.ProductDTO) -> Any:
    return cart.lines.get(product_id=product.id)


def test_a_total_past_what_one_payment_holds_is_refused_and_nothing_is_reserved(
    cart_events: Events,
) -> None:
    # Prices go up to MAX_AMOUNT and a line to 100 units: the payment could not hold this.
    dear, cheap = make_product(price=str(MAX_AMOUNT), stock=5), make_product(stock=5)
    too_much = cart_with((dear, 1), (cheap, 1))

    with pytest.raises(services.OrderTooLarge) as raised:
        checkout(too_much)

    assert (raised.value.code, raised.value.status) == ("order_too_large", 409)
    assert Cart.objects.get(pk=too_much.id).status == "open"
    with pytest.raises(inventory.ReservationNotFound):
        inventory.reservation_get(reference=too_much.id)
    assert cart_events("CartCheckedOut") == []
    services.cart_remove_item(
        cart_id=too_much.id, item_id=_line_of(too_much, cheap).id, cart_token=TOKEN
    )
    assert checkout(too_much).total == MAX_AMOUNT  # at most: placed


def test_an_empty_cart_cannot_be_checked_out(cart_events: Events) -> None:
    cart = CartFactory.anonymous()

    with pytest.raises(services.CartEmpty):
        checkout(cart)

    assert Cart.objects.get().status == "open"


def test_a_cart_is_checked_out_once(cart_events: Events) -> None:
    product = make_product(stock=10)
    cart = cart_with((product, 2))
    checkout(cart)

    with pytest.raises(services.CartNotOpen):
        checkout(cart)

    assert inventory.stock_get(product_id=product.id).reserved == 2
    assert len(cart_events("CartCheckedOut")) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", ""),
        ("email", "not-an-email"),
        ("payment_token", ""),
        ("payment_token", "   "),
        ("payment_token", "t" * 101),
    ],
)
def test_missing_or_bad_checkout_details_are_invalid(
    field: str, value: str, cart_events: Events
) -> None:
    product = make_product(stock=10)
    cart = cart_with((product, 1))

    with pytest.raises(services.InvalidCheckout) as raised:
        checkout(cart, **{field: value})

    assert raised.value.attr == field
    assert Cart.objects.get().status == "open"
    assert inventory.stock_get(product_id=product.id).reserved == 0


def test_someone_elses_cart_is_not_found() -> None:
    product = make_product(stock=10)
    cart = cart_with((product, 1))

    with pytest.raises(services.CartNotFound):
        checkout(cart, cart_token="guess")

    assert inventory.stock_get(product_id=product.id).reserved == 0


def test_a_line_added_outside_the_api_is_reserved_too() -> None:
    # Lines are reserved as they stand at checkout, whatever path put them there.
    product = make_product(stock=10)
    cart = CartFactory.anonymous()
    CartLineFactory(cart=cart, product_id=product.id, sku=product.sku, quantity=7)

    checkout(cart)

    assert inventory.stock_get(product_id=product.id).available == 3


def test_a_line_that_missed_a_price_change_is_ordered_at_the_catalogs_price(
    cart_events: Events,
) -> None:
    # Added while the change was being handled: read at the old price, committed after the
    # reprice handler had looked for carts holding the product.
    mug = make_product(price="4.50", stock=10)
    cart = CartFactory.anonymous()
    CartLineFactory(
        cart=cart, product_id=mug.id, sku=mug.sku, unit_price=Decimal("4.00"), quantity=2
    )

    dto = checkout(cart)

    assert dto.total == Decimal("9.00")
    assert cart.lines.get().unit_price == Decimal("4.50")
    [(_, payload)] = cart_events("CartCheckedOut")
    assert (payload["total"], payload["lines"][0]["unit_price"]) == ("9.00", "4.50")


# Where inventory runs as a service of its own, a checkout can reserve the stock and then fail
# before the cart records it (docs/SPLITTING.md). The reservation it left behind is given here.


def test_a_checkout_retried_after_an_interrupted_one_uses_its_reservation(
    cart_events: Events,
) -> None:
    mug = make_product(stock=5)
    cart = cart_with((mug, 2))
    inventory.reservation_create(
        reference=cart.id, lines=[inventory.ReservationLineIn(product_id=mug.id, quantity=2)]
    )

    dto = checkout(cart)

    assert dto.status == "checked_out"
    assert inventory.stock_get(product_id=mug.id).reserved == 2
    assert [t for t, _ in cart_events()] == ["CartItemAdded", "CartCheckedOut"]


def interrupted_checkout(cart: Cart, *pairs: tuple[Any, int]) -> inventory.ReservationDTO:
    return inventory.reservation_create(
        reference=cart.id,
        lines=[inventory.ReservationLineIn(product_id=p.id, quantity=q) for p, q in pairs],
    )


def run_out(cart: Cart) -> None:
    Reservation.objects.filter(reference=cart.id).update(expires_at=timezone.now())
    assert inventory.reservations_expire_due() == 1


@pytest.mark.parametrize("left_behind", ["other quantities", "released", "expired"])
def test_a_checkout_after_an_interrupted_one_renews_its_reservation_for_the_cart(
    cart_events: Events, left_behind: str
) -> None:
    mug, tea = make_product(stock=5), make_product(stock=5)
    cart = cart_with((mug, 2))
    interrupted_checkout(cart, (mug, 1), (tea, 1))
    if left_behind == "released":
        inventory.reservation_release(reference=cart.id, reason="test")
    elif left_behind == "expired":
        run_out(cart)

    dto = checkout(cart)

    assert dto.status == "checked_out"
    reservation = inventory.reservation_get(reference=cart.id)
    assert reservation.status == "active"
    assert [(line.product_id, line.quantity) for line in reservation.lines] == [(mug.id, 2)]
    assert (
        inventory.stock_get(product_id=mug.id).reserved,
        inventory.stock_get(product_id=tea.id).reserved,
    ) == (2, 0)
    assert [t for t, _ in cart_events()] == ["CartItemAdded", "CartCheckedOut"]


def test_a_renewal_short_of_stock_is_out_of_stock_and_the_cart_stays_open(
    cart_events: Events,
) -> None:
    mug = make_product(stock=2)
    cart = cart_with((mug, 2))
    left = interrupted_checkout(cart, (mug, 1))
    inventory.reservation_create(
        reference=uuid4(), lines=[inventory.ReservationLineIn(product_id=mug.id, quantity=1)]
    )

    with pytest.raises(inventory.OutOfStock):
        checkout(cart)

    assert inventory.reservation_get(reference=cart.id) == left
    cart.refresh_from_db()
    assert (cart.status, cart.email) == ("open", "")
    assert "CartCheckedOut" not in [t for t, _ in cart_events()]


def test_the_expiry_of_a_reservation_renewed_since_does_not_end_the_new_order(
    cart_events: Events,
) -> None:
    mug = make_product(stock=5)
    cart = cart_with((mug, 2))
    interrupted_checkout(cart, (mug, 2))
    run_out(cart)
    checkout(cart)

    # The expiry of the interrupted checkout's reservation reaches the cart only now.
    assert services.cart_expire(cart_id=cart.id) is False

    cart.refresh_from_db()
    assert cart.status == "checked_out"
    assert "CartExpired" not in [t for t, _ in cart_events()]
    # Nor when the new order's stock is sold by then (the old expiry comes first, in order).
    inventory.reservation_commit(reference=cart.id)
    assert services.cart_expire(cart_id=cart.id) is False
    assert Cart.objects.get(pk=cart.id).status == "checked_out"


def test_the_expiry_of_a_renewed_reservation_that_ran_out_again_ends_the_order() -> None:
    mug = make_product(stock=5)
    cart = cart_with((mug, 2))
    interrupted_checkout(cart, (mug, 1))
    checkout(cart)
    run_out(cart)

    assert services.cart_expire(cart_id=cart.id) is True

    assert Cart.objects.get(pk=cart.id).status == "expired"


def test_a_renewal_asked_by_an_earlier_attempt_arriving_late_leaves_the_order_alone(
    cart_events: Events,
) -> None:
    """Attempt A (the cart then also held a tea) found the interrupted checkout's reservation
    and asked for a renewal, then gave up waiting (a timeout) with the request still on its
    way. The tea went out of the cart and attempt B placed the order on the reservation as it
    was. Then A's renewal reaches inventory."""
    mug, tea = make_product(stock=5), make_product(stock=5)
    cart = cart_with((mug, 2))
    left = interrupted_checkout(cart, (mug, 2))
    assert checkout(cart).status == "checked_out"  # B

    late = inventory.reservation_create(
        reference=cart.id,
        lines=[
            inventory.ReservationLineIn(product_id=mug.id, quantity=2),
            inventory.ReservationLineIn(product_id=tea.id, quantity=1),
        ],
        renewing_expires_at=left.expires_at,
    )

    # B took the reservation up, so A's read of it is stale: nothing is made over.
    assert [(line.product_id, line.quantity) for line in late.lines] == [(mug.id, 2)]
    inventory.reservation_commit(reference=cart.id)
    assert inventory.stock_get(product_id=tea.id).on_hand == 5


def test_a_reservation_run_out_but_not_swept_yet_holds_the_order_for_its_full_time(
    cart_events: Events,
) -> None:
    mug = make_product(stock=5)
    cart = cart_with((mug, 2))
    interrupted_checkout(cart, (mug, 2))
    Reservation.objects.filter(reference=cart.id).update(expires_at=timezone.now())

    assert checkout(cart).status == "checked_out"

    assert inventory.reservations_expire_due() == 0  # the next sweep leaves it alone
    assert inventory.reservation_get(reference=cart.id).expires_at > timezone.now()
    assert Cart.objects.get(pk=cart.id).status == "checked_out"
