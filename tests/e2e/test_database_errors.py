"""A request whose database connection is cut under it (a failover, a server restarting, an
operator ending backends) is a 503 in the error shape with ``Retry-After``, changes nothing,
and succeeds when tried again: a checkout retried with its ``Idempotency-Key`` is accepted
once, and the worker's next request has a new connection. The server really ends the
connection (``pg_terminate_backend``)."""

from collections.abc import Iterable
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from rest_framework.test import APIClient

from apps.cart.models import Cart
from apps.inventory.models import Reservation, ReservationLine
from ecommerce.bus.models import OutboxEvent
from tests.cart.factories import make_product
from tests.e2e.test_checkout import checkout, shop, stock
from tests.postgres import connection_cut_before, terminate_own_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_checkout_cut_under_by_the_database_is_a_503_and_accepted_once_when_retried(
    api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    mug = make_product(stock=5)
    cart_id, _ = shop(api, mug, 2)

    # Cut mid-checkout: the cart locked and its reservation written, the lines not yet.
    with connection_cut_before(f"INSERT INTO {ReservationLine._meta.db_table}") as cut:
        response = checkout(api, cart_id, "tok_ok", key="checkout-cut")

    assert cut, "the connection was never cut"
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "type": "server_error",
        "errors": [
            {
                "code": "service_unavailable",
                "detail": "The database could not serve this request; try again shortly.",
                "attr": None,
            }
        ],
    }
    assert f"database error under /api/v1/carts/{cart_id}/checkout" in caplog.text
    # Nothing stayed: the cart open, the stock whole, nothing published.
    assert Cart.objects.get(pk=cart_id).status == "open"
    assert stock(mug) == (5, 0, 5)
    assert not OutboxEvent.objects.filter(event_type="cart.CartCheckedOut").exists()

    retried = checkout(api, cart_id, "tok_ok", key="checkout-cut")

    assert retried.status_code == 202, retried.content
    assert Reservation.objects.filter(reference=cart_id).count() == 1
    assert OutboxEvent.objects.filter(event_type="cart.CartCheckedOut").count() == 1
    assert Cart.objects.get(pk=cart_id).status == "paid"
    assert stock(mug) == (3, 0, 3)


def wsgi_get(path: str) -> str:
    """GET ``path`` through Django's WSGI handler as gunicorn calls it; the status line. With
    the connection handling Django does at the start and end of each request, which the test
    client leaves out: the persistent connection (``CONN_MAX_AGE``) kept, checked, replaced."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "HTTP_ACCEPT": "application/json"}
    setup_testing_defaults(environ)
    statuses: list[str] = []
    body: Iterable[bytes] = WSGIHandler()(environ, lambda status, headers: statuses.append(status))
    try:
        b"".join(body)
    finally:
        body.close()  # type: ignore[attr-defined]  # the server's part: request_finished
    return statuses[0]


def test_a_connection_ended_between_requests_is_replaced_before_the_next_uses_it() -> None:
    assert wsgi_get("/api/v1/products/") == "200 OK"
    terminate_own_connection()  # the worker's kept connection, while it waits for a request

    assert wsgi_get("/api/v1/products/") == "200 OK"


def test_after_a_request_the_database_failed_under_the_next_one_has_a_new_connection() -> None:
    assert wsgi_get("/api/v1/products/") == "200 OK"

    with connection_cut_before("SELECT", close=False) as cut:
        assert wsgi_get("/api/v1/products/") == "503 Service Unavailable"

    assert cut, "the connection was never cut"
    assert wsgi_get("/api/v1/products/") == "200 OK"
