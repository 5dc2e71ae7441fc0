"""Carts in the admin: listed and shown read-only, with their lines."""

from collections.abc import Callable

import pytest
from django.test import Client

from apps.cart import services
from apps.cart.models import CartLine
from ecommerce.accounts.models import User
from ecommerce.bus.models import OutboxEvent
from tests.cart.factories import TOKEN, CartFactory, CartLineFactory, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user: Callable[..., User]) -> Client:
    user = make_user("boss@example.com", staff=True)
    user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_carts_are_listed_and_filtered_by_status(admin_client: Client) -> None:
    CartFactory(email="ann@example.com")
    CartFactory(email="bob@example.com", status="paid", checked_out_at="2026-01-01T00:00:00Z")

    listed = admin_client.get("/admin/cart/cart/?status__exact=paid")

    assert listed.status_code == 200
    assert b"bob@example.com" in listed.content
    assert b"ann@example.com" not in listed.content


def test_a_cart_shows_its_lines_and_cannot_be_changed(admin_client: Client) -> None:
    cart = CartFactory(payment_token="tok_secret_of_the_gateway")
    CartLineFactory(cart=cart, sku="MUG-BLUE")

    page = admin_client.get(f"/admin/cart/cart/{cart.id}/change/")

    assert page.status_code == 200
    assert b"MUG-BLUE" in page.content
    assert b"tok_secret_of_the_gateway" not in page.content  # as in the payments admin
    assert b'name="_save"' not in page.content
    assert admin_client.get("/admin/cart/cart/add/").status_code == 403


def test_a_cart_of_many_lines_shows_the_first_hundred_and_says_how_many(
    admin_client: Client,
) -> None:
    cart = CartFactory()
    CartLine.objects.bulk_create(CartLineFactory.build_batch(150, cart=cart))

    page = admin_client.get(f"/admin/cart/cart/{cart.id}/change/")

    assert page.status_code == 200
    [lines] = page.context["inline_admin_formsets"]
    assert len(lines.formset.forms) == 100
    assert b"Cart lines (the first 100 of 150)" in page.content


def test_the_outbox_shows_a_checkout_without_its_payment_token(admin_client: Client) -> None:
    product = make_product(name="Blue mug", stock=5)
    cart = CartFactory.anonymous()
    services.cart_add_item(cart_id=cart.id, product_id=product.id, quantity=1, cart_token=TOKEN)
    services.cart_checkout(
        cart_id=cart.id, email="ann@example.com", payment_token="tok_secret", cart_token=TOKEN
    )
    event = OutboxEvent.objects.get(event_type="cart.CartCheckedOut")

    page = admin_client.get(f"/admin/bus/outboxevent/{event.pk}/change/")

    assert page.status_code == 200
    assert b"ann@example.com" in page.content  # the payload is shown
    assert b"Blue mug" in page.content
    assert b"tok_secret" not in page.content
    assert b"&quot;payment_token&quot;: &quot;(hidden)&quot;" in page.content
    assert event.payload["payment_token"] == "tok_secret"  # subscribers still get it
