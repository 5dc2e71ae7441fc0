"""The inventory API: availability for everyone, adjustments and the ledger for staff."""

from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.inventory import services
from apps.inventory.models import StockMovement
from apps.inventory.services import StockDTO
from apps.products import services as products
from ecommerce.bus.relay import Relay
from tests.inventory.conftest import counters, lines, published

pytestmark = pytest.mark.django_db

StockMaker = Callable[..., StockDTO]


def error(code: str, detail: str, attr: str | None = None, kind: str = "client_error") -> dict:
    return {"type": kind, "errors": [{"code": code, "detail": detail, "attr": attr}]}


def test_anyone_sees_availability_only(api: APIClient, stocked: StockMaker) -> None:
    mug = stocked(10, sku="MUG")
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 3)))

    response = api.get(f"/api/v1/inventory/{mug.product_id}/")

    assert response.status_code == 200
    assert response.json() == {"product_id": str(mug.product_id), "sku": "MUG", "available": 7}


@pytest.mark.django_db(transaction=True)  # products' events reach inventory after commit
def test_a_product_not_for_sale_has_its_availability_shown_to_staff_only(
    api: APIClient, staff_api: APIClient
) -> None:
    # As the product itself: a draft or a discontinued product is 404 for shoppers.
    draft = products.product_create(
        sku="LAUNCH-1", name="Unannounced", price=Decimal("999.00"), status="draft", initial_stock=5
    )
    path = f"/api/v1/inventory/{draft.id}/"
    assert api.get(path).status_code == 404
    assert staff_api.get(path).json()["available"] == 5

    products.product_update(product_id=draft.id, status="active")  # published
    assert api.get(path).json() == {"product_id": str(draft.id), "sku": "LAUNCH-1", "available": 5}

    products.product_discontinue(product_id=draft.id)
    assert api.get(path).status_code == 404
    assert staff_api.get(path).status_code == 200


def test_a_shopper_sees_availability_only(user_api: APIClient, stocked: StockMaker) -> None:
    mug = stocked(10, sku="MUG")

    response = user_api.get(f"/api/v1/inventory/{mug.product_id}/")

    assert response.json() == {"product_id": str(mug.product_id), "sku": "MUG", "available": 10}


def test_staff_also_see_on_hand_reserved_and_threshold(
    staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG", threshold=4)
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 3)))

    response = staff_api.get(f"/api/v1/inventory/{mug.product_id}/")

    assert response.json() == {
        "product_id": str(mug.product_id),
        "sku": "MUG",
        "available": 7,
        "on_hand": 10,
        "reserved": 3,
        "low_stock_threshold": 4,
    }


@pytest.mark.parametrize("path", ["/api/v1/inventory/{id}/", "/api/v1/inventory/{id}/movements"])
def test_an_unknown_product_is_not_found(staff_api: APIClient, path: str) -> None:
    response = staff_api.get(path.format(id=uuid4()))

    assert response.status_code == 404
    assert response.json() == error("not_found", "No stock is kept for this product.")


def test_a_product_id_that_is_no_uuid_is_not_found(api: APIClient) -> None:
    response = api.get("/api/v1/inventory/not-a-uuid/")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_staff_adjust_stock_and_get_the_stock_back(
    staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")

    response = staff_api.post(
        f"/api/v1/inventory/{mug.product_id}/adjustments", {"delta": 5, "reason": "delivery"}
    )

    assert response.status_code == 201
    assert response.json() == {
        "product_id": str(mug.product_id),
        "sku": "MUG",
        "available": 15,
        "on_hand": 15,
        "reserved": 0,
        "low_stock_threshold": 5,
    }
    movement = StockMovement.objects.order_by("-id").first()
    assert movement is not None
    assert movement.actor is not None
    assert (movement.kind, movement.on_hand_delta, movement.actor.email) == (
        "adjustment",
        5,
        "staff@example.com",
    )
    assert published()[-1][0] == "inventory.StockAdjusted"


def test_an_adjustment_repeated_with_its_key_is_made_once(
    staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    url = f"/api/v1/inventory/{mug.product_id}/adjustments"
    body = {"delta": 5, "reason": "delivery"}

    first = staff_api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="delivery-0412")
    again = staff_api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="delivery-0412")
    other = staff_api.post(
        url, {**body, "delta": 6}, format="json", HTTP_IDEMPOTENCY_KEY="delivery-0412"
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert first.json()["on_hand"] == 15
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert counters(mug.product_id) == (15, 0)
    assert StockMovement.objects.filter(kind="adjustment", on_hand_delta=5).count() == 1


def test_a_staff_members_adjustment_keys_are_theirs_whatever_cart_token_they_send(
    staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    url = f"/api/v1/inventory/{mug.product_id}/adjustments"
    body = {"delta": 5, "reason": "delivery"}

    first = staff_api.post(url, body, HTTP_IDEMPOTENCY_KEY="k", HTTP_X_CART_TOKEN="one")
    again = staff_api.post(url, body, HTTP_IDEMPOTENCY_KEY="k", HTTP_X_CART_TOKEN="two")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert counters(mug.product_id) == (15, 0)


def test_an_adjustment_refused_with_a_key_leaves_the_key_free(
    staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    url = f"/api/v1/inventory/{mug.product_id}/adjustments"

    refused = staff_api.post(
        url, {"delta": -11, "reason": "count"}, format="json", HTTP_IDEMPOTENCY_KEY="count-1"
    )
    corrected = staff_api.post(
        url, {"delta": -3, "reason": "count"}, format="json", HTTP_IDEMPOTENCY_KEY="count-1"
    )

    assert refused.status_code == 409
    assert corrected.status_code == 201
    assert counters(mug.product_id) == (7, 0)


def test_an_adjustment_below_reserved_is_insufficient_stock(
    staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 8)))

    response = staff_api.post(
        f"/api/v1/inventory/{mug.product_id}/adjustments", {"delta": -3, "reason": "count"}
    )

    assert response.status_code == 409
    assert response.json() == error(
        "insufficient_stock", "Cannot remove 3 of MUG: 10 on hand, 8 reserved."
    )
    assert counters(mug.product_id) == (10, 8)


@pytest.mark.parametrize(
    ("body", "code", "attr"),
    [
        ({"delta": 0, "reason": "count"}, "invalid_quantity", "delta"),
        ({"delta": "lots", "reason": "count"}, "invalid", "delta"),
        ({"delta": 1.5, "reason": "count"}, "invalid", "delta"),
        ({"delta": "1_000", "reason": "count"}, "invalid", "delta"),  # DRF read it as 1000
        ({"delta": 2_000_000, "reason": "count"}, "max_value", "delta"),
        ({"reason": "count"}, "required", "delta"),
        ({"delta": 1, "reason": ""}, "blank", "reason"),
        ({"delta": 1, "reason": "   "}, "blank", "reason"),
        ({"delta": 1}, "required", "reason"),
        ({"delta": 1, "reason": "count", "on_hand": 100}, "unknown_field", "on_hand"),
    ],
)
def test_bad_adjustments_are_400_and_change_nothing(
    staff_api: APIClient, stocked: StockMaker, body: dict, code: str, attr: str
) -> None:
    mug = stocked(10)

    response = staff_api.post(f"/api/v1/inventory/{mug.product_id}/adjustments", body)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [(code, attr)]
    assert counters(mug.product_id) == (10, 0)
    assert StockMovement.objects.count() == 1


def test_adjusting_an_unknown_product_is_not_found(staff_api: APIClient) -> None:
    response = staff_api.post(
        f"/api/v1/inventory/{uuid4()}/adjustments", {"delta": 1, "reason": "delivery"}
    )

    assert response.status_code == 404
    assert not StockMovement.objects.exists()


def test_shoppers_cannot_adjust_or_read_the_ledger(
    user_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10)

    adjust = user_api.post(
        f"/api/v1/inventory/{mug.product_id}/adjustments", {"delta": 5, "reason": "mine"}
    )
    ledger = user_api.get(f"/api/v1/inventory/{mug.product_id}/movements")

    assert (adjust.status_code, ledger.status_code) == (403, 403)
    assert adjust.json()["errors"][0]["code"] == "permission_denied"
    assert counters(mug.product_id) == (10, 0)


def test_staff_adjust_only_with_the_change_stock_permission(
    bare_staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10)

    adjust = bare_staff_api.post(
        f"/api/v1/inventory/{mug.product_id}/adjustments", {"delta": 1000, "reason": "made up"}
    )

    assert adjust.status_code == 403
    assert adjust.json() == error(
        "permission_denied", "This needs the inventory.change_stock permission."
    )
    assert counters(mug.product_id) == (10, 0)
    assert not StockMovement.objects.filter(reason="made up").exists()


def test_anonymous_adjustments_must_authenticate(api: APIClient, stocked: StockMaker) -> None:
    mug = stocked(10)

    response = api.post(
        f"/api/v1/inventory/{mug.product_id}/adjustments", {"delta": 5, "reason": "mine"}
    )

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"
    assert counters(mug.product_id) == (10, 0)


def test_staff_read_the_ledger_newest_first_and_paginated(
    staff_api: APIClient, stocked: StockMaker
) -> None:
    mug = stocked(10)
    reference = uuid4()
    services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    services.stock_adjust(product_id=mug.product_id, delta=-1, reason="broken")

    response = staff_api.get(f"/api/v1/inventory/{mug.product_id}/movements?page_size=2")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["next"].endswith("page=2&page_size=2")
    assert [
        (m["kind"], m["on_hand_delta"], m["reserved_delta"], m["on_hand_after"], m["reason"])
        for m in body["results"]
    ] == [("adjustment", -1, 0, 9, "broken"), ("reservation", 0, 2, 10, "")]
    assert body["results"][1]["reference"] == str(reference)
    assert body["results"][1]["actor_email"] is None


def test_the_ledger_costs_the_same_queries_for_any_page_size(
    staff_api: APIClient,
    stocked: StockMaker,
    make_user: Callable[..., object],
    django_assert_num_queries: Callable[..., object],
) -> None:
    mug = stocked(10)
    staff = make_user("keeper@example.com", staff=True)
    for _ in range(30):
        services.stock_adjust(
            product_id=mug.product_id,
            delta=1,
            reason="delivery",
            actor_id=staff.pk,  # type: ignore[attr-defined]
        )

    # stock lookup, count, page with its actors joined in
    for size in (5, 30):
        with django_assert_num_queries(3):  # type: ignore[attr-defined]
            response = staff_api.get(
                f"/api/v1/inventory/{mug.product_id}/movements?page_size={size}"
            )
        assert len(response.json()["results"]) == size
        assert response.json()["results"][0]["actor_email"] == "keeper@example.com"


@pytest.mark.django_db(transaction=True)
def test_replayed_product_events_do_not_put_back_an_old_listing(api: APIClient) -> None:
    # An operator replays products' events to inventory (after restoring its tables, say):
    # each product's stock stays shown or hidden as its product's latest status says.
    published = products.product_create(
        sku="TENT-1", name="Tent", price=Decimal("99.00"), status="draft", initial_stock=5
    )
    products.product_update(product_id=published.id, status="active")
    gone = products.product_create(sku="LAMP-1", name="Lamp", price=Decimal("20.00"))
    products.product_discontinue(product_id=gone.id)
    back_to_draft = products.product_create(sku="MUG-1", name="Mug", price=Decimal("9.00"))
    products.product_update(product_id=back_to_draft.id, status="draft")
    products.product_update(product_id=back_to_draft.id, status="active")
    products.product_update(product_id=back_to_draft.id, status="draft")
    shown = {p.sku: api.get(f"/api/v1/inventory/{p.id}/").status_code for p in (published, gone)}
    assert shown == {"TENT-1": 200, "LAMP-1": 404}

    for subscriber in ("inventory.create_stock", "inventory.list_stock"):
        call_command("replay_events", "--subscriber", subscriber, stdout=StringIO())
    Relay().drain()

    assert api.get(f"/api/v1/inventory/{published.id}/").status_code == 200
    assert api.get(f"/api/v1/inventory/{gone.id}/").status_code == 404
    assert api.get(f"/api/v1/inventory/{back_to_draft.id}/").status_code == 404
