"""Claiming a cart: which open cart takes the lines, a cart the user owns already, and lines
that cannot be merged at all."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.cart import services
from apps.cart.models import Cart, CartLine
from apps.inventory import services as inventory
from ecommerce.accounts.models import User
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory, make_product

pytestmark = pytest.mark.django_db

Events = Callable[..., list[tuple[str, dict[str, Any]]]]


def test_the_lines_go_to_the_users_most_recently_used_open_cart(
    make_user: Callable[..., User],
) -> None:
    user = make_user()
    mug = make_product()
    low, high = sorted([CartFactory(owner=user), CartFactory(owner=user)], key=lambda c: c.id)
    # The cart with the higher id was used last: it takes the lines, whatever the ids say.
    Cart.objects.filter(pk=low.id).update(updated_at=timezone.now() - timedelta(hours=2))
    Cart.objects.filter(pk=high.id).update(updated_at=timezone.now() - timedelta(hours=1))
    anonymous = CartFactory.anonymous()
    CartLineFactory(cart=anonymous, product_id=mug.id, sku="MUG", quantity=2)

    dto = services.cart_claim(cart_id=anonymous.id, user_id=user.pk, cart_token=TOKEN)

    assert dto.id == high.id
    assert [(i.sku, i.quantity) for i in dto.items] == [("MUG", 2)]
    assert not CartLine.objects.filter(cart_id=low.id).exists()


def test_claiming_a_cart_the_user_owns_already_leaves_both_of_their_carts_alone(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    # A claim repeated after its answer was lost, while the user has another open cart.
    user = make_user()
    mug = make_product()
    claimed = CartFactory(owner=user)
    CartLineFactory(cart=claimed, product_id=mug.id, sku="MUG", quantity=2)
    other = CartFactory(owner=user)

    dto = services.cart_claim(cart_id=claimed.id, user_id=user.pk, cart_token=TOKEN)

    assert (dto.id, dto.owner_id, [(i.sku, i.quantity) for i in dto.items]) == (
        claimed.id,
        user.pk,
        [("MUG", 2)],
    )
    assert Cart.objects.filter(pk=claimed.id).exists()
    assert list(CartLine.objects.filter(cart_id=claimed.id).values_list("quantity", flat=True)) == [
        2
    ]
    assert not CartLine.objects.filter(cart_id=other.id).exists()
    assert cart_events() == []


def test_a_line_of_a_product_now_out_of_stock_stays_behind_and_the_claim_goes_through(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    user = make_user()
    mug, tea = make_product(stock=3), make_product(stock=5)
    inventory.stock_adjust(product_id=mug.id, delta=-3, reason="broken in transit")
    theirs = CartFactory(owner=user)
    anonymous = CartFactory.anonymous()
    CartLineFactory(cart=anonymous, product_id=mug.id, sku="MUG", quantity=2)
    CartLineFactory(cart=anonymous, product_id=tea.id, sku="TEA", quantity=1)

    dto = services.cart_claim(cart_id=anonymous.id, user_id=user.pk, cart_token=TOKEN)

    assert dto.id == theirs.id
    assert [(i.sku, i.quantity) for i in dto.items] == [("TEA", 1)]
    assert not Cart.objects.filter(pk=anonymous.id).exists()
    assert [(p["sku"], p["quantity"]) for _, p in cart_events("CartItemAdded")] == [("TEA", 1)]


def test_a_line_already_as_large_as_stock_allows_is_not_merged_into(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    user = make_user()
    mug = make_product(stock=3)
    theirs = CartFactory(owner=user)
    CartLineFactory(cart=theirs, product_id=mug.id, sku="MUG", quantity=3)
    anonymous = CartFactory.anonymous()
    CartLineFactory(cart=anonymous, product_id=mug.id, sku="MUG", quantity=2)

    dto = services.cart_claim(cart_id=anonymous.id, user_id=user.pk, cart_token=TOKEN)

    assert [(i.sku, i.quantity) for i in dto.items] == [("MUG", 3)]
    assert cart_events("CartItemAdded") == []


def test_a_merge_leaves_out_new_lines_past_what_a_cart_holds(
    make_user: Callable[..., User],
) -> None:
    user = make_user()
    mine = CartFactory(owner=user)
    CartLine.objects.bulk_create(CartLineFactory.build_batch(services.MAX_LINES - 1, cart=mine))
    first, second = make_product(), make_product()
    anonymous = CartFactory.anonymous()
    CartLineFactory(cart=anonymous, product_id=first.id, sku=first.sku, quantity=1)
    CartLineFactory(cart=anonymous, product_id=second.id, sku=second.sku, quantity=1)

    dto = services.cart_claim(cart_id=anonymous.id, user_id=user.pk, cart_token=TOKEN)

    assert len(dto.items) == services.MAX_LINES
    merged = {i.product_id for i in dto.items} & {first.id, second.id}
    assert len(merged) == 1  # one of the two fitted
