"""Creating a cart and reaching it again: only its owner, or the holder of its token."""

import hashlib
from collections.abc import Callable
from decimal import Decimal
from uuid import uuid4

import pytest

from apps.cart import services
from apps.cart.models import Cart
from ecommerce.accounts.models import User
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory

pytestmark = pytest.mark.django_db


def test_an_anonymous_cart_is_created_open_and_empty_with_its_secret_token() -> None:
    cart = services.cart_create()

    assert (cart.status, cart.items, cart.total, cart.currency, cart.owner_id) == (
        "open",
        (),
        Decimal("0.00"),
        "EUR",
        None,
    )
    assert cart.token is not None
    assert len(cart.token) >= 40
    row = Cart.objects.get()
    # Only the hash is kept.
    assert row.token_hash == hashlib.sha256(cart.token.encode()).hexdigest()


def test_the_token_is_told_only_at_creation() -> None:
    created = services.cart_create()

    again = services.cart_get(cart_id=created.id, cart_token=created.token)

    assert again.id == created.id
    assert again.token is None


def test_a_signed_in_shoppers_cart_is_theirs(make_user: Callable[..., User]) -> None:
    user = make_user()

    cart = services.cart_create(user_id=user.pk)

    assert cart.owner_id == user.pk
    assert services.cart_get(cart_id=cart.id, user_id=user.pk).id == cart.id


def test_lines_and_total_are_read_from_the_cart() -> None:
    cart = CartFactory.anonymous()
    CartLineFactory(cart=cart, sku="MUG", unit_price=Decimal("4.50"), quantity=3)
    CartLineFactory(cart=cart, sku="TEA", unit_price=Decimal("0.99"), quantity=1)

    dto = services.cart_get(cart_id=cart.id, cart_token=TOKEN)

    assert [(i.sku, i.quantity, i.line_total) for i in dto.items] == [
        ("MUG", 3, Decimal("13.50")),
        ("TEA", 1, Decimal("0.99")),
    ]
    assert dto.total == Decimal("14.49")


@pytest.mark.parametrize("token", [None, "", "a-wrong-token"])
def test_an_anonymous_cart_without_its_token_is_not_found(token: str | None) -> None:
    cart = CartFactory.anonymous()

    with pytest.raises(services.CartNotFound):
        services.cart_get(cart_id=cart.id, cart_token=token)


def test_another_users_cart_is_not_found(make_user: Callable[..., User]) -> None:
    owner, other = make_user("owner@example.com"), make_user("other@example.com")
    cart = CartFactory.anonymous(owner=owner)

    with pytest.raises(services.CartNotFound):
        services.cart_get(cart_id=cart.id, user_id=other.pk)
    with pytest.raises(services.CartNotFound):
        # A user's cart is not reachable by its token alone.
        services.cart_get(cart_id=cart.id, cart_token=TOKEN)


def test_an_unknown_cart_is_not_found() -> None:
    with pytest.raises(services.CartNotFound):
        services.cart_get(cart_id=uuid4(), cart_token=TOKEN)


def test_reading_a_cart_takes_two_queries_whatever_its_size(
    django_assert_num_queries: Callable[..., object],
) -> None:
    cart = CartFactory.anonymous()
    CartLineFactory.create_batch(5, cart=cart)

    with django_assert_num_queries(2):  # type: ignore[attr-defined]
        dto = services.cart_get(cart_id=cart.id, cart_token=TOKEN)

    assert len(dto.items) == 5
