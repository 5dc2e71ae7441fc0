"""A product leaves the catalog while it sits in carts: their owners are told."""

import pytest
from django.core import mail

from apps.cart import services as cart
from apps.notifications.models import Notification
from apps.products import services as products
from ecommerce.accounts.models import User
from tests.cart.factories import make_product
from tests.notifications.conftest import notifications

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_owner_of_a_cart_hears_that_a_discontinued_product_was_taken_out(ann: User) -> None:
    kettle = make_product(name="Copper Kettle", price="49.00")
    basket = cart.cart_create(user_id=ann.pk)
    cart.cart_add_item(cart_id=basket.id, product_id=kettle.id, quantity=2, user_id=ann.pk)

    products.product_discontinue(product_id=kettle.id)

    assert notifications() == [
        ("item_discontinued", "email", "ann@example.com", "sent"),
        ("item_discontinued", "in_app", str(ann.pk), "sent"),
    ]
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    assert message.subject == "Example Shop: Copper Kettle is no longer available"
    assert f"Copper Kettle ({kettle.sku}) is no longer sold at Example Shop" in message.body
    assert "(2 x)" in message.body
    in_app = Notification.objects.get(channel="in_app")
    assert (in_app.product_id, in_app.body_text) == (
        kettle.id,
        "Copper Kettle is no longer sold, so we took it out of your cart.",
    )


def test_removing_an_item_yourself_sends_nothing(ann: User) -> None:
    kettle = make_product()
    basket = cart.cart_create(user_id=ann.pk)
    line = cart.cart_add_item(
        cart_id=basket.id, product_id=kettle.id, quantity=1, user_id=ann.pk
    ).items[0]

    cart.cart_remove_item(cart_id=basket.id, item_id=line.id, user_id=ann.pk)

    assert notifications() == []
    assert mail.outbox == []


def test_an_anonymous_cart_without_an_email_has_nobody_to_tell() -> None:
    kettle = make_product()
    basket = cart.cart_create()
    cart.cart_add_item(cart_id=basket.id, product_id=kettle.id, quantity=1, cart_token=basket.token)

    products.product_discontinue(product_id=kettle.id)

    assert notifications() == []
    assert mail.outbox == []
