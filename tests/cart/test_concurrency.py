"""Carts under real concurrency on PostgreSQL: every path locks carts in id order."""

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

import pytest
from django.db import connection, transaction

from apps.cart import services
from apps.cart.models import Cart, CartLine
from apps.products import services as products
from ecommerce.accounts.models import User
from tests.cart.factories import TOKEN, CartFactory, make_product

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LOWER = UUID("00000000-0000-0000-0000-000000000001")
HIGHER = UUID("ffffffff-0000-0000-0000-000000000001")


def test_a_claim_and_a_handler_locking_the_same_two_carts_do_not_deadlock(
    make_user: Callable[..., User],
) -> None:
    user = make_user()
    CartFactory(id=LOWER, owner=user)  # the user's open cart
    CartFactory.anonymous(id=HIGHER)  # the cart they take along when signing in
    handler_holds_lower = threading.Event()
    outcomes: dict[str, str] = {}

    def handler() -> None:
        """What carts_reprice_product does: lock the carts in id order."""
        try:
            with transaction.atomic():
                Cart.objects.select_for_update().get(pk=LOWER)
                handler_holds_lower.set()
                time.sleep(0.3)  # the claim starts and waits meanwhile
                Cart.objects.select_for_update().get(pk=HIGHER)
            outcomes["handler"] = "done"
        except Exception as exc:
            outcomes["handler"] = repr(exc)
        finally:
            connection.close()

    def claim() -> None:
        handler_holds_lower.wait()
        try:
            services.cart_claim(cart_id=HIGHER, user_id=user.pk, cart_token=TOKEN)
            outcomes["claim"] = "done"
        except Exception as exc:
            outcomes["claim"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=handler), threading.Thread(target=claim)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes == {"handler": "done", "claim": "done"}
    assert list(Cart.objects.values_list("id", "owner_id")) == [(LOWER, user.pk)]


def test_a_line_added_while_a_price_change_is_handled_is_still_ordered_at_the_new_price() -> None:
    mug = make_product(price="4.50", stock=10)
    cart = CartFactory.anonymous()
    line_written, price_changed = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def add_item() -> None:
        """Reads the product at 4.50, and commits only after the change was handled."""
        try:
            with transaction.atomic():
                services.cart_add_item(
                    cart_id=cart.id, product_id=mug.id, quantity=2, cart_token=TOKEN
                )
                line_written.set()
                price_changed.wait(10)
            outcomes["add"] = "done"
        except Exception as exc:
            outcomes["add"] = repr(exc)
        finally:
            connection.close()

    adding = threading.Thread(target=add_item)
    adding.start()
    assert line_written.wait(10)
    # The price changes and cart.reprice_product runs (the bus is eager): it looks for open
    # carts holding the mug and does not see the line, not committed yet.
    products.product_change_price(product_id=mug.id, price=Decimal("5.00"))
    price_changed.set()
    adding.join()
    assert outcomes == {"add": "done"}
    assert CartLine.objects.get().unit_price == Decimal("4.50")  # missed the change

    dto = services.cart_checkout(
        cart_id=cart.id, email="ann@example.com", payment_token="tok_ok", cart_token=TOKEN
    )

    assert dto.total == Decimal("10.00")
