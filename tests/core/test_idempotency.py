"""The Idempotency-Key convention, on a toy money-moving view (deposits into a balance)."""

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.core.management import call_command
from django.db import connection
from django.middleware.csrf import _mask_cipher_secret  # type: ignore[attr-defined]
from django.test import Client
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.inventory import services as inventory
from ecommerce.accounts.models import User
from ecommerce.common.errors import DomainError
from ecommerce.core.idempotency import idempotent, purge_expired_keys
from ecommerce.core.models import IdempotencyKey
from tests.bus.support.models import Balance
from tests.cart.factories import make_product

ACCOUNT = UUID("00000000-0000-0000-0000-00000000000a")


class Refused(DomainError):
    code = "refused"


class DepositView(APIView):
    slow_seconds = 0.0

    class DepositInputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=10, decimal_places=2)

    @idempotent
    def post(self, request: Request, account_id: UUID) -> Response:
        data = self.DepositInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data["amount"]
        balance, _ = Balance.objects.get_or_create(
            account_id=account_id, defaults={"total": Decimal("0"), "deposits": 0}
        )
        balance.total += amount
        balance.deposits += 1
        balance.save()
        time.sleep(self.slow_seconds)
        if amount > 1000:
            raise Refused("too much")
        if amount == 0:
            return Response({"detail": "nothing to do"}, status=422)
        return Response({"deposit": str(uuid4()), "total": str(balance.total)}, status=201)


@pytest.fixture
def deposit(make_user: Callable[..., User]) -> Callable[..., Response]:
    user = make_user()
    factory = APIRequestFactory()

    def send(
        body: dict[str, Any],
        *,
        key: str | None = "key-1",
        path: str = "/deposits",
        as_user: User | None = None,
        cart_token: str | None = None,
    ) -> Response:
        headers = {}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        if cart_token is not None:
            headers["HTTP_X_CART_TOKEN"] = cart_token
        request = factory.post(path, body, format="json", **headers)
        if cart_token is None:
            force_authenticate(request, user=as_user or user)
        response = DepositView.as_view()(request, account_id=ACCOUNT)
        response.render()
        return response

    return send


def balance() -> tuple[Decimal, int] | None:
    row = Balance.objects.filter(account_id=ACCOUNT).first()
    return (row.total, row.deposits) if row else None


@pytest.mark.django_db
def test_the_same_key_and_body_returns_the_first_response_without_running_again(
    deposit: Callable[..., Response],
) -> None:
    first = deposit({"amount": "10.00"})
    second = deposit({"amount": "10.00"})

    assert first.status_code == second.status_code == 201
    assert second.data == first.data
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert balance() == (Decimal("10.00"), 1)


@pytest.mark.django_db
def test_key_order_and_spacing_of_the_body_do_not_matter(
    deposit: Callable[..., Response],
) -> None:
    deposit({"amount": "10.00", "note": "a"})
    again = deposit({"note": "a", "amount": "10.00"})

    assert again.status_code == 201
    assert balance() == (Decimal("10.00"), 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "path"),
    [({"amount": "11.00"}, "/deposits"), ({"amount": "10.00"}, "/deposits/other")],
)
def test_the_same_key_with_another_request_is_409_and_changes_nothing(
    deposit: Callable[..., Response], body: dict[str, str], path: str
) -> None:
    deposit({"amount": "10.00"})

    response = deposit(body, path=path)

    assert response.status_code == 409
    assert response.data["errors"][0]["code"] == "idempotency_key_reused"
    assert balance() == (Decimal("10.00"), 1)


@pytest.mark.django_db
def test_without_a_key_every_request_runs(deposit: Callable[..., Response]) -> None:
    deposit({"amount": "10.00"}, key=None)
    deposit({"amount": "10.00"}, key=None)

    assert balance() == (Decimal("20.00"), 2)
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_keys_are_scoped_to_the_caller(
    deposit: Callable[..., Response], make_user: Callable[..., User]
) -> None:
    deposit({"amount": "10.00"})
    deposit({"amount": "10.00"}, as_user=make_user("other@example.com"))
    deposit({"amount": "10.00"}, cart_token="secret-cart-token")

    assert balance() == (Decimal("30.00"), 3)
    assert IdempotencyKey.objects.count() == 3
    assert all(
        s.startswith(("user:", "cart:")) and "secret" not in s
        for s in IdempotencyKey.objects.values_list("scope", flat=True)
    )


@pytest.mark.django_db
def test_an_error_response_is_not_remembered_and_its_changes_roll_back(
    deposit: Callable[..., Response],
) -> None:
    refused = deposit({"amount": "5000.00"})
    not_done = deposit({"amount": "0.00"}, key="key-2")
    bad = deposit({"amount": "ten"}, key="key-3")

    assert (refused.status_code, not_done.status_code, bad.status_code) == (409, 422, 400)
    assert balance() is None
    assert not IdempotencyKey.objects.exists()
    # The key is free again: a corrected retry runs.
    assert deposit({"amount": "10.00"}, key="key-3").status_code == 201
    assert balance() == (Decimal("10.00"), 1)


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " padded", "x" * 256, "line\nbreak"])
def test_a_malformed_key_is_400(deposit: Callable[..., Response], key: str) -> None:
    response = deposit({"amount": "10.00"}, key=key)

    assert response.status_code == 400
    assert response.data["errors"][0]["code"] == "invalid_idempotency_key"
    assert balance() is None


@pytest.mark.django_db
def test_a_key_older_than_a_day_starts_over_and_is_purged(
    deposit: Callable[..., Response],
) -> None:
    deposit({"amount": "10.00"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=1, seconds=1))

    again = deposit({"amount": "99.00"})

    assert again.status_code == 201
    assert balance() == (Decimal("109.00"), 2)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))
    call_command("purge_idempotency_keys", stdout=None)
    assert not IdempotencyKey.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_expired_key_purged_while_it_is_retried_starts_over(
    deposit: Callable[..., Response],
) -> None:
    deposit({"amount": "10.00"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))

    def purge_right_after_the_claims_insert(execute: Any, sql: str, *args: Any) -> Any:
        result = execute(sql, *args)
        if "ON CONFLICT (scope" in sql:  # found the expired row, without locking it
            purge = threading.Thread(target=lambda: (purge_expired_keys(), connection.close()))
            purge.start()
            purge.join()  # the hourly purge commits its DELETE right here
        return result

    with connection.execute_wrapper(purge_right_after_the_claims_insert):
        again = deposit({"amount": "10.00"})

    assert again.status_code == 201
    assert balance() == (Decimal("20.00"), 2)
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_run_the_use_case_once(
    deposit: Callable[..., Response], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DepositView, "slow_seconds", 0.3)
    responses: list[Response] = []

    def send() -> None:
        try:
            responses.append(deposit({"amount": "10.00"}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(r.status_code for r in responses) == [201, 201, 201, 201]
    assert len({r.data["deposit"] for r in responses}) == 1
    assert balance() == (Decimal("10.00"), 1)


# A checkout posted as a form (session sign-in, the browsable API) carries its CSRF token.
FORM_CSRF_SECRET = "a" * 32


@pytest.mark.django_db
def test_a_form_checkout_repeated_with_its_key_and_a_fresh_csrf_token_is_the_replay() -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user(email="ann@example.com", password="pw-long-1"))
    client.cookies["csrftoken"] = FORM_CSRF_SECRET
    mug = make_product(price="4.50", stock=10)

    def form(**fields: str) -> dict[str, str]:
        # Each page Django renders masks the same secret anew (a token of 64 characters).
        return {**fields, "csrfmiddlewaretoken": _mask_cipher_secret(FORM_CSRF_SECRET)}

    cart = client.post("/api/v1/carts/", form())
    assert cart.status_code == 201, cart.content
    cart_id = cart.json()["id"]
    added = client.post(
        f"/api/v1/carts/{cart_id}/items", form(product_id=str(mug.id), quantity="2")
    )
    assert added.status_code == 201, added.content

    body = {"email": "ann@example.com", "payment_token": "tok_ok"}
    first = client.post(
        f"/api/v1/carts/{cart_id}/checkout", form(**body), HTTP_IDEMPOTENCY_KEY="k1"
    )
    # The answer was lost; the shopper's page is reloaded and the same order sent again.
    again = client.post(
        f"/api/v1/carts/{cart_id}/checkout", form(**body), HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert first.status_code == 202, first.content
    assert again.status_code == 202, again.content  # not 409 idempotency_key_reused
    assert again["Idempotent-Replayed"] == "true"
    assert inventory.stock_get(product_id=mug.id).reserved == 2
