"""Carts under real concurrency on PostgreSQL: every path locks carts in id order."""

import threading
import time
from collections.abc import Callable
from uuid import UUID

import pytest
from django.db import connection, transaction

from apps.cart import services
from apps.cart.models import Cart
from ecommerce.accounts.models import User
from tests.cart.factories import TOKEN, CartFactory

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
