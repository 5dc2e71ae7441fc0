"""The HTTP side of service calls (ecommerce.remote): retries, timeouts and error mapping,
against a live server through a misbehaving proxy, and against canned answers."""

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from uuid import uuid4

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.inventory import services as inventory
from apps.inventory.models import Reservation, StockMovement
from apps.products import services as products
from ecommerce.bus import subscribe
from ecommerce.bus.registry import subscription, unsubscribe
from ecommerce.common.errors import ServiceCallFailed, ServiceUnavailable
from ecommerce.remote import service_url, serving
from ecommerce.remote.client import APP_HEADER, close_clients
from tests.bus.support.events import ThingHappened
from tests.cart.factories import make_product
from tests.processes import wait_until
from tests.remote.servers import Behaviour, misbehaving_server

pytestmark = pytest.mark.django_db(transaction=True)

OverHttp = Callable[..., str]
NOT_FOUND_BODY = {
    "type": "client_error",
    "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
}


@pytest.fixture
def through(settings: SettingsWrapper) -> Iterator[Callable[..., AbstractContextManager[str]]]:
    """``with through(app, behaviour):`` the app's services are called through a
    misbehaving server."""

    def route(app: str, behaviour: Behaviour) -> AbstractContextManager[str]:
        server = misbehaving_server(behaviour)
        url = server.__enter__()
        settings.SERVICE_URLS = {app: url}
        started.append(server)
        return server

    started: list[AbstractContextManager[str]] = []
    yield route
    close_clients()
    for server in started:
        server.__exit__(None, None, None)


def test_a_read_is_retried_until_the_flaky_service_answers(
    over_http: OverHttp, through: Callable[..., Any]
) -> None:
    mug = make_product(stock=4)
    here = products.product_get(product_id=mug.id)
    flaky = Behaviour(failures=2, target=over_http())
    through("products", flaky)

    assert products.product_get(product_id=mug.id) == here
    assert [method for method, _ in flaky.seen] == ["GET", "GET", "GET"]


def test_a_service_that_stays_down_is_unavailable_after_the_retries(
    through: Callable[..., Any], settings: SettingsWrapper
) -> None:
    down = Behaviour(failures=100, failure_status=502)
    through("inventory", down)

    with pytest.raises(ServiceUnavailable) as raised:
        inventory.stock_get_many(product_ids=[uuid4()])

    assert len(down.seen) == 1 + settings.SERVICE_RETRIES
    assert (raised.value.status, raised.value.code) == (503, "service_unavailable")


def test_a_write_that_would_count_twice_is_not_retried(
    over_http: OverHttp, through: Callable[..., Any]
) -> None:
    mug = make_product(stock=4)
    flaky = Behaviour(failures=1, failures_reach_target=True, target=over_http())
    through("inventory", flaky)

    with pytest.raises(ServiceUnavailable):
        inventory.stock_adjust(product_id=mug.id, delta=1, reason="delivery")

    assert len(flaky.seen) == 1
    # The answer was lost, the change was not: the caller knows it may have happened.
    assert StockMovement.objects.filter(product_id=mug.id, reason="delivery").count() == 1


def test_a_reservation_whose_answer_was_lost_is_retried_and_made_once(
    over_http: OverHttp, through: Callable[..., Any]
) -> None:
    mug = make_product(stock=4)
    reference = uuid4()
    lossy = Behaviour(failures=1, failures_reach_target=True, target=over_http())
    through("inventory", lossy)

    reservation = inventory.reservation_create(
        reference=reference, lines=[inventory.ReservationLineIn(product_id=mug.id, quantity=3)]
    )

    assert (reservation.reference, reservation.status) == (reference, "active")
    assert len(lossy.seen) == 2
    assert Reservation.objects.count() == 1
    assert inventory.stock_get(product_id=mug.id).reserved == 3


def test_a_service_slower_than_the_timeout_is_unavailable(
    through: Callable[..., Any], settings: SettingsWrapper
) -> None:
    settings.SERVICE_TIMEOUT_SECONDS = 0.1
    settings.SERVICE_RETRIES = 1
    settings.SERVICE_BACKOFF_SECONDS = 0.05
    slow = Behaviour(delay=5.0, answer=(200, {}, {}))
    through("products", slow)
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable):
        products.product_get(product_id=uuid4())

    # Two timeouts take about 0.3 s; waiting for the answers would take 10. The margin is for
    # a loaded machine.
    assert time.monotonic() - started < 2.5
    assert wait_until(lambda: len(slow.seen) == 2, timeout=2)  # both attempts reached it


def test_an_answer_trickling_in_longer_than_the_timeout_is_unavailable(
    through: Callable[..., Any], settings: SettingsWrapper
) -> None:
    # httpx's timeout bounds each read: a byte every 0.1 s kept a 0.3 s timeout waiting 4 s,
    # and a checkout waiting on it kept the cart's row locked.
    settings.SERVICE_TIMEOUT_SECONDS = 0.3
    settings.SERVICE_RETRIES = 0
    trickling = Behaviour(answer=(200, {APP_HEADER: "products"}, [" "] * 10), trickle=0.1)
    through("products", trickling)
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable):
        products.product_get_many(product_ids=[uuid4()])

    assert time.monotonic() - started < 2.0  # the answer's 50 bytes take 5 s


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({"Content-Type": "application/json"}, [], id="not from the app"),
        pytest.param({APP_HEADER: "products"}, b"<html>sign in</html>", id="not JSON"),
    ],
)
def test_a_success_that_is_not_the_apps_answer_is_a_failed_call(
    through: Callable[..., Any], headers: dict[str, str], body: Any
) -> None:
    # An empty list from a wrong server at a wrong URL read as "no such products" (a checkout
    # would say product_unavailable); a proxy's HTML page was a JSONDecodeError.
    through("products", Behaviour(answer=(200, headers, body)))

    with pytest.raises(ServiceCallFailed):
        products.product_get_many(product_ids=[uuid4()])


def test_a_service_nobody_listens_for_is_unavailable(settings: SettingsWrapper) -> None:
    settings.SERVICE_URLS = {"inventory": "http://127.0.0.1:9"}  # the discard port: refused

    with pytest.raises(ServiceUnavailable):
        inventory.stock_adjust(product_id=uuid4(), delta=1, reason="delivery")


def test_a_404_from_something_other_than_the_app_is_not_its_not_found(
    through: Callable[..., Any],
) -> None:
    through(
        "products", Behaviour(answer=(404, {"Content-Type": "application/json"}, NOT_FOUND_BODY))
    )

    with pytest.raises(ServiceCallFailed):
        products.product_get(product_id=uuid4())


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "permission_denied"), (400, "required"), (409, "something_new")],
)
def test_an_error_the_caller_cannot_act_on_is_service_call_failed(
    through: Callable[..., Any], status: int, code: str
) -> None:
    body = {"type": "client_error", "errors": [{"code": code, "detail": "No.", "attr": None}]}
    through("products", Behaviour(answer=(status, {APP_HEADER: "products"}, body)))

    with pytest.raises(ServiceCallFailed) as raised:
        products.product_get(product_id=uuid4())

    assert (raised.value.status, raised.value.code) == (502, "service_call_failed")


def test_without_a_service_token_nothing_is_sent(
    through: Callable[..., Any], settings: SettingsWrapper
) -> None:
    settings.SERVICE_TOKEN = ""
    server = Behaviour()
    through("products", server)

    with pytest.raises(ServiceCallFailed):
        products.product_get(product_id=uuid4())

    assert server.seen == []


def test_an_app_is_called_in_process_by_code_that_serves_it(settings: SettingsWrapper) -> None:
    settings.SERVICE_URLS = {"inventory": "http://inventory:8000", "products": "http://p:8000"}

    with serving("inventory"):
        inside = (service_url("inventory"), service_url("products"))

    assert inside == (None, "http://p:8000")
    assert service_url("inventory") == "http://inventory:8000"


def test_a_subscriber_serves_its_own_app(settings: SettingsWrapper) -> None:
    settings.SERVICE_URLS = {"inventory": "http://inventory:8000", "products": "http://p:8000"}
    seen: list[tuple[str | None, str | None]] = []
    subscribe(
        ThingHappened,
        lambda event: seen.append((service_url("inventory"), service_url("products"))),
        name="inventory.remote_probe",
    )
    try:
        subscription("inventory.remote_probe").handler(ThingHappened(thing_id=uuid4()))
    finally:
        unsubscribe("inventory.remote_probe")

    assert seen == [(None, "http://p:8000")]
