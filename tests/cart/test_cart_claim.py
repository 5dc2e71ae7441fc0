"""A shopper signs in and takes their anonymous cart along."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from apps.cart import services
from apps.cart.models import Cart
from ecommerce.accounts.models import User
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory, make_product

pytestmark = pytest.mark.django_db

Events = Callable[..., list[tuple[str, dict[str, Any]]]]
MUG = UUID("00000000-0000-0000-0000-0000000000a1")


def test_without_an_open_cart_the_anonymous_cart_becomes_the_users(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    user = make_user()
    cart = CartFactory.anonymous()
    CartLineFactory(cart=cart, product_id=MUG, quantity=2)

    dto = services.cart_claim(cart_id=cart.id, user_id=user.pk, cart_token=TOKEN)

    assert (dto.id, dto.owner_id, [i.quantity for i in dto.items]) == (cart.id, user.pk, [2])
    assert services.cart_get(cart_id=cart.id, user_id=user.pk).id == cart.id
    assert cart_events() == []


def test_lines_merge_into_the_users_open_cart(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    user = make_user()
    mug, tea = make_product(), make_product()
    theirs = CartFactory(owner=user)
    CartLineFactory(cart=theirs, product_id=mug.id, sku="MUG", quantity=1, unit_price=Decimal("5"))
    anonymous = CartFactory.anonymous()
    CartLineFactory(cart=anonymous, product_id=mug.id, sku="MUG", quantity=2)
    CartLineFactory(cart=anonymous, product_id=tea.id, sku="TEA", quantity=3)

    dto = services.cart_claim(cart_id=anonymous.id, user_id=user.pk, cart_token=TOKEN)

    assert dto.id == theirs.id
    assert sorted((i.sku, i.quantity) for i in dto.items) == [("MUG", 3), ("TEA", 3)]
    assert not Cart.objects.filter(pk=anonymous.id).exists()
    assert [(p["sku"], p["quantity"], p["line_quantity"]) for _, p in cart_events()] == [
        ("MUG", 2, 3),
        ("TEA", 3, 3),
    ]


def test_merged_lines_stop_at_100(make_user: Callable[..., User]) -> None:
    user = make_user()
    mug = make_product(stock=500)
    CartLineFactory(cart=CartFactory(owner=user), product_id=mug.id, quantity=90)
    anonymous = CartFactory.anonymous()
    CartLineFactory(cart=anonymous, product_id=mug.id, quantity=20)

    dto = services.cart_claim(cart_id=anonymous.id, user_id=user.pk, cart_token=TOKEN)

    assert [i.quantity for i in dto.items] == [100]


def test_merged_lines_stop_at_what_is_available_as_adding_them_would(
    make_user: Callable[..., User], cart_events: Events
) -> None:
    user = make_user()
    mug, tea, draft = make_product(stock=5), make_product(stock=2), make_product(status="draft")
    theirs = CartFactory(owner=user)
    CartLineFactory(cart=theirs, product_id=mug.id, sku="MUG", quantity=4)
    CartLineFactory(cart=theirs, product_id=tea.id, sku="TEA", quantity=3)  # before stock fell
    anonymous = CartFactory.anonymous()
    CartLineFactory(cart=anonymous, product_id=mug.id, sku="MUG", quantity=3)
    CartLineFactory(cart=anonymous, product_id=tea.id, sku="TEA", quantity=1)
    CartLineFactory(cart=anonymous, product_id=draft.id, sku="DRAFT", quantity=1)  # off sale

    dto = services.cart_claim(cart_id=anonymous.id, user_id=user.pk, cart_token=TOKEN)

    # The mug's line fills up to the 5 available; the tea's is left as it was, not cut.
    assert sorted((i.sku, i.quantity) for i in dto.items) == [("MUG", 5), ("TEA", 3)]
    assert [(p["sku"], p["quantity"]) for _, p in cart_events("CartItemAdded")] == [("MUG", 1)]


def test_claiming_ones_own_cart_again_changes_nothing(make_user: Callable[..., User]) -> None:
    user = make_user()
    cart = CartFactory(owner=user)

    assert services.cart_claim(cart_id=cart.id, user_id=user.pk, cart_token=None).id == cart.id


@pytest.mark.parametrize("token", [None, "wrong"])
def test_without_the_token_the_cart_is_not_found(
    make_user: Callable[..., User], token: str | None
) -> None:
    cart = CartFactory.anonymous()

    with pytest.raises(services.CartNotFound):
        services.cart_claim(cart_id=cart.id, user_id=make_user().pk, cart_token=token)

    assert Cart.objects.get().owner_id is None


def test_another_users_cart_cannot_be_claimed(make_user: Callable[..., User]) -> None:
    cart = CartFactory.anonymous(owner=make_user("owner@example.com"))

    with pytest.raises(services.CartNotFound):
        services.cart_claim(
            cart_id=cart.id, user_id=make_user("thief@example.com").pk, cart_token=TOKEN
        )


def test_a_checked_out_anonymous_cart_cannot_be_claimed(make_user: Callable[..., User]) -> None:
    cart = CartFactory.anonymous(status="checked_out", checked_out_at="2026-01-01T00:00:00Z")

    with pytest.raises(services.CartNotOpen):
        services.cart_claim(cart_id=cart.id, user_id=make_user().pk, cart_token=TOKEN)
