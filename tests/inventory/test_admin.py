"""The stock admin: read-only counters, an "Adjust stock" form that goes through the service."""

import re
import time
from collections.abc import Callable
from uuid import uuid4

import pytest
from django.core.signing import b62_encode
from django.http import HttpResponse
from django.test import Client
from rest_framework.test import APIClient

from apps.inventory import services
from apps.inventory.models import Stock, StockMovement
from apps.inventory.services import StockDTO
from ecommerce.accounts.models import User
from ecommerce.core.idempotency import KEY_TTL, OnceFormField
from tests.inventory.conftest import counters, lines, published

pytestmark = pytest.mark.django_db

StockMaker = Callable[..., StockDTO]


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser(email="keeper@example.com", password="a-long-passphrase")


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def adjust_url(product_id: object) -> str:
    return f"/admin/inventory/stock/{Stock.objects.get(product_id=product_id).pk}/adjust/"


def form_id(page: HttpResponse) -> str:
    """The one-time id of the adjust form on ``page``."""
    found = re.search(rb'name="request_id" value="([^"]+)"', page.content)
    assert found is not None, page.content
    return found.group(1).decode()


def a_form(**fields: str) -> dict[str, str]:
    """What a freshly opened adjust form sends."""
    return {"request_id": OnceFormField.fresh(), **fields}


def test_the_stock_list_shows_counters_and_finds_by_sku_or_product_id(
    admin_client: Client, stocked: StockMaker
) -> None:
    stocked(10, sku="MUG-RED")
    tea = stocked(3, sku="TEA-GREEN")

    by_sku = admin_client.get("/admin/inventory/stock/", {"q": "MUG"})
    by_id = admin_client.get("/admin/inventory/stock/", {"q": str(tea.product_id)})

    assert by_sku.status_code == 200
    assert b"MUG-RED" in by_sku.content
    assert b"TEA-GREEN" not in by_sku.content
    assert b"Adjust stock" in by_sku.content
    assert b"TEA-GREEN" in by_id.content
    assert b"MUG-RED" not in by_id.content


@pytest.mark.parametrize(
    ("level", "shown"), [("out", {"EMPTY"}), ("low", {"FEW", "HELD"}), ("ok", {"PLENTY"})]
)
def test_the_stock_list_filters_by_level(
    admin_client: Client, stocked: StockMaker, level: str, shown: set[str]
) -> None:
    stocked(0, sku="EMPTY")
    stocked(3, sku="FEW")
    stocked(50, sku="PLENTY")
    held = stocked(10, sku="HELD")  # 10 on hand, but only 2 available
    services.reservation_create(reference=uuid4(), lines=lines((held.product_id, 8)))

    response = admin_client.get("/admin/inventory/stock/", {"level": level})

    listed = {sku for sku in ("EMPTY", "FEW", "PLENTY", "HELD") if sku.encode() in response.content}
    assert listed == shown


def test_counters_are_read_only(admin_client: Client, stocked: StockMaker) -> None:
    mug = stocked(10)
    pk = Stock.objects.get(product_id=mug.product_id).pk

    page = admin_client.get(f"/admin/inventory/stock/{pk}/change/")
    post = admin_client.post(f"/admin/inventory/stock/{pk}/change/", {"on_hand": 999})

    assert page.status_code == 200
    assert b'name="on_hand"' not in page.content
    assert b"Adjust stock" in page.content
    assert post.status_code == 403
    assert counters(mug.product_id) == (10, 0)
    assert admin_client.get("/admin/inventory/stock/add/").status_code == 403


def test_the_adjust_form_calls_the_service_with_the_staff_member_as_actor(
    admin_client: Client, admin_user: User, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")

    form = admin_client.get(adjust_url(mug.product_id))
    response = admin_client.post(
        adjust_url(mug.product_id),
        {"request_id": form_id(form), "delta": "24", "reason": "delivery"},
        follow=True,
    )

    assert form.status_code == 200
    assert b"10 on hand, 0 reserved, 10 available" in form.content
    assert response.redirect_chain == [("/admin/inventory/stock/", 302)]
    assert b"MUG: +24 (delivery). Now 34 on hand, 0 reserved, 34 available." in response.content
    assert counters(mug.product_id) == (34, 0)
    movement = StockMovement.objects.order_by("-id").first()
    assert movement is not None
    assert (movement.kind, movement.on_hand_delta, movement.reason, movement.actor_id) == (
        "adjustment",
        24,
        "delivery",
        admin_user.pk,
    )


def test_an_admin_adjustment_publishes_the_same_event_as_the_api(
    admin_client: Client, admin_user: User, stocked: StockMaker
) -> None:
    by_admin, by_api = stocked(10, sku="SAME"), stocked(10, sku="SAME")
    api = APIClient()
    api.force_authenticate(admin_user)

    admin_client.post(adjust_url(by_admin.product_id), a_form(delta="-4", reason="count"))
    api.post(f"/api/v1/inventory/{by_api.product_id}/adjustments", {"delta": -4, "reason": "count"})

    adjusted = [p for t, p in published() if t == "inventory.StockAdjusted" and p["delta"] == -4]
    assert [p["product_id"] for p in adjusted] == [str(by_admin.product_id), str(by_api.product_id)]
    from_admin, from_api = ({k: v for k, v in p.items() if k != "product_id"} for p in adjusted)
    assert (
        from_admin
        == from_api
        == {
            "sku": "SAME",
            "delta": -4,
            "reason": "count",
            "on_hand": 6,
            "reserved": 0,
            "available": 6,
            "actor_id": str(admin_user.pk),
        }
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"delta": "-11", "reason": "count"}, b"Cannot remove 11 of MUG: 10 on hand, 0 reserved."),
        ({"delta": "0", "reason": "count"}, b"An adjustment changes stock by at least one unit."),
        ({"delta": "3", "reason": ""}, b"This field is required."),
    ],
)
def test_a_refused_adjustment_shows_why_and_changes_nothing(
    admin_client: Client, stocked: StockMaker, data: dict[str, str], message: bytes
) -> None:
    mug = stocked(10, sku="MUG")
    events_before = published()

    response = admin_client.post(adjust_url(mug.product_id), a_form(**data))

    assert response.status_code == 200
    assert message in response.content
    assert counters(mug.product_id) == (10, 0)
    assert published() == events_before


def test_the_same_form_sent_twice_adjusts_the_stock_once(
    admin_client: Client, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    sent = {"request_id": form_id(admin_client.get(adjust_url(mug.product_id)))}
    sent |= {"delta": "24", "reason": "delivery"}

    first = admin_client.post(adjust_url(mug.product_id), sent, follow=True)
    again = admin_client.post(adjust_url(mug.product_id), sent, follow=True)

    assert b"MUG: +24 (delivery). Now 34 on hand, 0 reserved, 34 available." in first.content
    assert b"Already made: MUG: +24 (delivery); nothing changed now." in again.content
    assert again.redirect_chain == [("/admin/inventory/stock/", 302)]
    assert counters(mug.product_id) == (34, 0)
    assert StockMovement.objects.filter(kind="adjustment", on_hand_delta=24).count() == 1
    adjusted = [p for t, p in published() if t == "inventory.StockAdjusted" and p["delta"] == 24]
    assert len(adjusted) == 1


def test_a_form_sent_again_with_another_change_is_refused_and_changes_nothing(
    admin_client: Client, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    first = a_form(delta="24", reason="delivery")
    admin_client.post(adjust_url(mug.product_id), first)
    events_before = published()

    response = admin_client.post(adjust_url(mug.product_id), {**first, "delta": "5"})

    assert response.status_code == 200
    assert b"This form was already used for another adjustment; nothing changed." in (
        response.content
    )
    assert counters(mug.product_id) == (34, 0)
    assert published() == events_before


def test_a_refused_adjustment_leaves_its_form_usable(
    admin_client: Client, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    form = a_form(delta="-11", reason="count")

    refused = admin_client.post(adjust_url(mug.product_id), form)
    corrected = admin_client.post(adjust_url(mug.product_id), {**form, "delta": "-3"})

    assert refused.status_code == 200
    assert form_id(refused) == form["request_id"]  # the form shown again keeps its id
    assert corrected.status_code == 302
    assert counters(mug.product_id) == (7, 0)


def test_a_form_not_shown_by_the_admin_changes_nothing(
    admin_client: Client, stocked: StockMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    mug = stocked(10, sku="MUG")
    # Shown over a day ago: the key its first submit left may be purged, so it is refused.
    a_day_ago = b62_encode(int(time.time() - KEY_TTL.total_seconds() - 60))
    monkeypatch.setattr(OnceFormField._signer, "timestamp", lambda: a_day_ago)
    old = a_form(delta="5", reason="count")
    monkeypatch.undo()
    sent = [
        {"delta": "5", "reason": "count"},
        a_form(delta="5", reason="count") | {"request_id": str(uuid4())},  # not signed
        old,
    ]

    responses = [admin_client.post(adjust_url(mug.product_id), data) for data in sent]

    assert [r.status_code for r in responses] == [200, 200, 200]
    for response in responses:
        assert b"This form is out of date; open the page again." in response.content
    assert counters(mug.product_id) == (10, 0)


def test_a_form_refused_for_its_input_keeps_its_id(
    admin_client: Client, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    form = a_form(delta="0", reason="count")

    refused = admin_client.post(adjust_url(mug.product_id), form)

    assert form_id(refused) == form["request_id"]
    assert admin_client.post(adjust_url(mug.product_id), {**form, "delta": "2"}).status_code == 302
    assert counters(mug.product_id) == (12, 0)


def test_the_adjust_action_opens_the_form_for_one_product(
    admin_client: Client, stocked: StockMaker
) -> None:
    mug = stocked(10)
    pk = Stock.objects.get(product_id=mug.product_id).pk

    response = admin_client.post(
        "/admin/inventory/stock/", {"action": "adjust_selected", "_selected_action": [pk]}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/admin/inventory/stock/{pk}/adjust/"


@pytest.mark.parametrize("pk", ["abc", "999999"])
def test_the_adjust_page_of_a_malformed_or_unknown_id_is_404(admin_client: Client, pk: str) -> None:
    assert admin_client.get(f"/admin/inventory/stock/{pk}/adjust/").status_code == 404


def test_staff_without_the_change_permission_cannot_adjust(
    make_user: Callable[..., User], stocked: StockMaker
) -> None:
    mug = stocked(10)
    client = Client()
    client.force_login(make_user("viewer@example.com", staff=True))

    response = client.post(adjust_url(mug.product_id), a_form(delta="5", reason="mine"))

    assert response.status_code == 403
    assert counters(mug.product_id) == (10, 0)


def test_movements_and_reservations_are_listed_read_only(
    admin_client: Client, stocked: StockMaker
) -> None:
    mug = stocked(10, sku="MUG")
    reference = uuid4()
    services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))

    movements = admin_client.get("/admin/inventory/stockmovement/", {"kind": "reservation"})
    reservations = admin_client.get("/admin/inventory/reservation/", {"status": "active"})
    found = admin_client.get("/admin/inventory/reservation/", {"q": str(reference)})

    assert movements.status_code == reservations.status_code == found.status_code == 200
    assert b"MUG" in movements.content
    assert str(reference).encode() in reservations.content
    assert str(reference).encode() in found.content
    assert admin_client.get("/admin/inventory/stockmovement/add/").status_code == 403
    assert admin_client.get("/admin/inventory/reservation/add/").status_code == 403


def test_reservations_are_found_by_reference_product_or_text_in_a_lines_sku(
    admin_client: Client, stocked: StockMaker
) -> None:
    mug, lamp = stocked(10, sku="MUG-BLUE"), stocked(10, sku="LAMP")
    both, lamp_only = uuid4(), uuid4()
    services.reservation_create(
        reference=both, lines=lines((mug.product_id, 1), (lamp.product_id, 1))
    )
    services.reservation_create(reference=lamp_only, lines=lines((lamp.product_id, 1)))

    def found(q: str) -> list[object]:
        page = admin_client.get("/admin/inventory/reservation/", {"q": q})
        return sorted(str(r.reference) for r in page.context["cl"].result_list)

    assert found("mug-b") == [str(both)]
    assert found("LAMP") == sorted([str(both), str(lamp_only)])  # each once, with two lines
    assert found(str(lamp_only)) == [str(lamp_only)]
    assert found(str(mug.product_id)) == [str(both)]
    assert found("no-such-sku") == []
