"""GET /api/v1/payments/ and /api/v1/payments/{id}/: who sees which payment."""

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from ecommerce.accounts.models import User
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper(make_user: Callable[..., User]) -> User:
    return make_user("ada@example.com")


@pytest.fixture
def shopper_api(shopper: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(shopper)
    return client


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


def test_a_shopper_reads_their_payment(shopper_api: APIClient, shopper: User) -> None:
    payment = PaymentFactory(user_id=shopper.pk, failed=True)

    response = shopper_api.get(f"/api/v1/payments/{payment.id}/")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "cart_id", "amount", "currency", "status")} == {
        "id": str(payment.id),
        "cart_id": str(payment.cart_id),
        "amount": "25.00",
        "currency": "EUR",
        "status": "failed",
    }
    assert body["failure_code"] == "payment_declined"
    assert "payment_token" not in body


def test_a_shopper_lists_a_carts_payment(shopper_api: APIClient, shopper: User) -> None:
    payment = PaymentFactory(user_id=shopper.pk)
    PaymentFactory(user_id=shopper.pk)  # another of their carts

    response = shopper_api.get("/api/v1/payments/", {"cart": str(payment.cart_id)})

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    assert [r["id"] for r in body["results"]] == [str(payment.id)]
    assert body["results"][0]["status"] == "pending"
    assert body["results"][0]["failure_code"] == ""


def test_someone_elses_payment_is_404_and_not_listed(shopper_api: APIClient) -> None:
    other = PaymentFactory(user_id=uuid4())
    anonymous_cart = PaymentFactory(user_id=None)

    detail = shopper_api.get(f"/api/v1/payments/{other.id}/")
    listed = shopper_api.get("/api/v1/payments/", {"cart": str(other.cart_id)})
    everything = shopper_api.get("/api/v1/payments/")
    anonymous_detail = shopper_api.get(f"/api/v1/payments/{anonymous_cart.id}/")

    assert (detail.status_code, error_code(detail)) == (404, "not_found")
    assert (anonymous_detail.status_code, error_code(anonymous_detail)) == (404, "not_found")
    assert listed.json()["count"] == 0
    assert everything.json()["count"] == 0


def test_staff_see_every_payment(staff_api: APIClient) -> None:
    payments = [PaymentFactory(user_id=uuid4()), PaymentFactory(user_id=None)]

    listed = staff_api.get("/api/v1/payments/")
    detail = staff_api.get(f"/api/v1/payments/{payments[1].id}/")

    assert {r["id"] for r in listed.json()["results"]} == {str(p.id) for p in payments}
    assert detail.status_code == 200


def test_anonymous_callers_see_no_payments(api: APIClient) -> None:
    payment = PaymentFactory(user_id=None)

    listed = api.get("/api/v1/payments/", {"cart": str(payment.cart_id)})
    detail = api.get(f"/api/v1/payments/{payment.id}/")

    assert (listed.status_code, error_code(listed)) == (401, "not_authenticated")
    assert (detail.status_code, error_code(detail)) == (401, "not_authenticated")


def test_an_unknown_payment_is_404(shopper_api: APIClient) -> None:
    response = shopper_api.get(f"/api/v1/payments/{uuid4()}/")

    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_a_cart_filter_that_is_not_an_id_is_400(shopper_api: APIClient) -> None:
    response = shopper_api.get("/api/v1/payments/", {"cart": "not-a-uuid"})

    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "invalid",
        "detail": "Must be a valid UUID.",
        "attr": "cart",
    }


def test_the_list_takes_two_queries_however_many_payments(
    staff_api: APIClient,
    django_assert_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    PaymentFactory.create_batch(25)

    with django_assert_num_queries(2):  # count, page
        response = staff_api.get("/api/v1/payments/", {"page_size": 30})

    assert len(response.json()["results"]) == 25
