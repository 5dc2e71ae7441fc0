"""Inventory's services called over HTTP (apps.inventory.http_client) against a live server
running this project: the same DTOs and the same domain errors as in-process."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from apps.inventory import services
from apps.inventory.models import Reservation, StockMovement
from apps.inventory.services import StockDTO
from tests.inventory.conftest import counters, lines

pytestmark = pytest.mark.django_db(transaction=True)

OverHttp = Callable[..., str]


def test_stock_reads_return_the_same_dtos_as_in_process(
    stocked: Callable[..., StockDTO], over_http: OverHttp
) -> None:
    mug, lamp = stocked(7), stocked(0, threshold=2)
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 3)))
    here_one = services.stock_get(product_id=mug.product_id)
    here_many = services.stock_get_many(product_ids=[mug.product_id, lamp.product_id, uuid4()])

    over_http("inventory")

    assert services.stock_get(product_id=mug.product_id) == here_one
    assert (
        services.stock_get_many(product_ids=[mug.product_id, lamp.product_id, uuid4()]) == here_many
    )
    assert here_one.reserved == 3
    assert services.stock_get_many(product_ids=[]) == {}


def test_stock_of_an_unknown_product_is_stock_not_found(over_http: OverHttp) -> None:
    over_http("inventory")

    with pytest.raises(services.StockNotFound) as raised:
        services.stock_get(product_id=uuid4())

    assert raised.value.detail == "No stock is kept for this product."


def test_a_reservation_over_http_holds_the_stock_and_is_idempotent_per_reference(
    stocked: Callable[..., StockDTO], over_http: OverHttp
) -> None:
    mug, lamp = stocked(5), stocked(5)
    reference = uuid4()
    over_http("inventory")

    made = services.reservation_create(
        reference=reference,
        lines=lines((lamp.product_id, 1), (mug.product_id, 2), (lamp.product_id, 1)),
        ttl=timedelta(minutes=3),
    )
    again = services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))

    assert (again.reference, again.status, again.lines) == (made.reference, "active", made.lines)
    assert services.reservation_get(reference=reference) == again
    assert made.status == "active"
    assert sorted((line.product_id, line.quantity) for line in made.lines) == sorted(
        [(mug.product_id, 2), (lamp.product_id, 2)]
    )
    assert (counters(mug.product_id), counters(lamp.product_id)) == ((5, 2), (5, 2))
    assert Reservation.objects.count() == 1


def test_a_renewal_over_http_names_the_reservation_it_renews_to_the_microsecond(
    stocked: Callable[..., StockDTO], over_http: OverHttp
) -> None:
    mug = stocked(5)
    reference = uuid4()
    over_http("inventory")
    first = services.reservation_create(reference=reference, lines=lines((mug.product_id, 1)))

    renewed = services.reservation_create(
        reference=reference, lines=lines((mug.product_id, 3)), renewing_expires_at=first.expires_at
    )
    repeated = services.reservation_create(
        reference=reference, lines=lines((mug.product_id, 4)), renewing_expires_at=first.expires_at
    )

    assert [line.quantity for line in renewed.lines] == [3]
    assert repeated == renewed
    assert counters(mug.product_id) == (5, 3)


def test_a_shortage_over_http_is_out_of_stock_naming_the_product_and_reserves_nothing(
    stocked: Callable[..., StockDTO], over_http: OverHttp
) -> None:
    mug, lamp = stocked(5), stocked(1)
    over_http("inventory")

    with pytest.raises(services.OutOfStock) as raised:
        services.reservation_create(
            reference=uuid4(), lines=lines((mug.product_id, 2), (lamp.product_id, 2))
        )

    assert raised.value.attr == str(lamp.product_id)
    assert raised.value.detail == f"Only 1 of {lamp.sku} available, 2 wanted."
    assert (counters(mug.product_id), counters(lamp.product_id)) == ((5, 0), (1, 0))
    assert not Reservation.objects.exists()


def test_bad_input_over_http_is_the_same_invalid_quantity(
    stocked: Callable[..., StockDTO], over_http: OverHttp
) -> None:
    mug = stocked(5)
    over_http("inventory")

    with pytest.raises(services.InvalidQuantity) as no_lines:
        services.reservation_create(reference=uuid4(), lines=[])
    with pytest.raises(services.InvalidQuantity) as zero_delta:
        services.stock_adjust(product_id=mug.product_id, delta=0, reason="count")

    assert (no_lines.value.attr, zero_delta.value.attr) == ("lines", "delta")
    assert not Reservation.objects.exists()


def test_stock_create_and_adjust_over_http(over_http: OverHttp, make_user: Any) -> None:
    staff = make_user("staff@example.com", staff=True)
    product_id = uuid4()
    over_http("inventory")

    created = services.stock_create(
        product_id=product_id, sku="MUG-1", on_hand=4, actor_id=staff.pk
    )
    created_again = services.stock_create(product_id=product_id, sku="MUG-1", on_hand=9)
    adjusted = services.stock_adjust(product_id=product_id, delta=-1, reason="broken")

    assert (
        created
        == created_again
        == StockDTO(
            product_id=product_id,
            sku="MUG-1",
            on_hand=4,
            reserved=0,
            available=4,
            low_stock_threshold=5,
        )
    )
    assert (adjusted.on_hand, adjusted.available) == (3, 3)
    assert list(
        StockMovement.objects.filter(product_id=product_id)
        .order_by("id")
        .values_list("on_hand_delta", "reason", "actor_id")
    ) == [(4, "initial stock", staff.pk), (-1, "broken", None)]


def test_removing_more_than_is_free_over_http_is_insufficient_stock(
    stocked: Callable[..., StockDTO], over_http: OverHttp
) -> None:
    mug = stocked(2)
    over_http("inventory")

    with pytest.raises(services.InsufficientStock):
        services.stock_adjust(product_id=mug.product_id, delta=-3, reason="count")
    with pytest.raises(services.StockNotFound):
        services.stock_adjust(product_id=uuid4(), delta=1, reason="delivery")

    assert counters(mug.product_id) == (2, 0)


@pytest.mark.parametrize(
    "authorization", [None, "Service wrong-token", "Token test-service-token", "Service"]
)
def test_internal_endpoints_refuse_callers_without_the_service_token(
    stocked: Callable[..., StockDTO], over_http: OverHttp, authorization: str | None
) -> None:
    mug = stocked(5)
    url = over_http("inventory")
    headers = {"Authorization": authorization} if authorization else {}

    response = httpx.post(
        f"{url}/api/internal/inventory/reservations",
        json={
            "reference": str(uuid4()),
            "lines": [{"product_id": str(mug.product_id), "quantity": 2}],
            "ttl_seconds": None,
        },
        headers=headers,
    )

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert counters(mug.product_id) == (5, 0)
    assert not Reservation.objects.exists()


@pytest.mark.parametrize(
    "ttl_seconds", [1e12, 366 * 86_400 + 1], ids=["past the calendar", "a year and a second"]
)
def test_a_reservation_asked_over_http_to_last_too_long_is_400(
    stocked: Callable[..., StockDTO], over_http: OverHttp, settings: Any, ttl_seconds: float
) -> None:
    mug = stocked(5)
    url = over_http("inventory")

    response = httpx.post(
        f"{url}/api/internal/inventory/reservations",
        json={
            "reference": str(uuid4()),
            "lines": [{"product_id": str(mug.product_id), "quantity": 2}],
            "ttl_seconds": ttl_seconds,
        },
        headers={"Authorization": f"Service {settings.SERVICE_TOKEN}"},
    )

    assert response.status_code == 400  # the date overflowed: a 500
    assert response.json()["errors"][0]["attr"] == "ttl_seconds"
    assert counters(mug.product_id) == (5, 0)


def test_internal_endpoints_are_not_in_the_public_schema(over_http: OverHttp) -> None:
    url = over_http()

    schema = httpx.get(f"{url}/api/schema/?format=json").json()

    assert not [path for path in schema["paths"] if "internal" in path]
