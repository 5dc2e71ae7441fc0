"""Staff refunds: only succeeded payments, once, through the gateway, published."""

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.payments import services
from apps.payments.gateways import GatewayTimeout, RefundResult
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import FakeGatewayRequest, Payment, PaymentEvent
from apps.products.services import ProductDTO
from ecommerce.bus.models import OutboxEvent
from ecommerce.common.admin import ACTION_LIMIT
from tests.cart.factories import make_product
from tests.e2e.test_checkout import checkout, shop, status_of, stock
from tests.payments.conftest import kinds, may_refund, publish_checkout, published
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def refund_url(payment: Payment) -> str:
    return f"/api/v1/payments/{payment.id}/refund"


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


def test_staff_refund_a_succeeded_payment_and_payment_refunded_is_published(
    refund_api: APIClient,
) -> None:
    checkout = publish_checkout(payment_token="tok_ok")
    payment = Payment.objects.get(cart_id=checkout.cart_id)

    response = refund_api.post(refund_url(payment))

    assert response.status_code == 200
    assert response.json()["status"] == "refunded"
    payment.refresh_from_db()
    refund = FakeGatewayRequest.objects.get(operation="refund")
    assert payment.status == "refunded"
    assert payment.refund_reference == refund.reference
    assert (refund.payment_id, refund.amount, refund.calls) == (payment.id, payment.amount, 1)
    assert published("payments.PaymentRefunded") == [
        {
            "payment_id": str(payment.id),
            "cart_id": str(checkout.cart_id),
            "amount": "25.00",
            "currency": "EUR",
            "email": "shopper@example.com",
        }
    ]
    assert PaymentEvent.objects.filter(payment=payment, kind="refunded").count() == 1


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_refusing_to_refund_a_payment_that_did_not_succeed(
    refund_api: APIClient, status: str
) -> None:
    payment = PaymentFactory(failed=True) if status == "failed" else PaymentFactory()

    response = refund_api.post(refund_url(payment))

    assert response.status_code == 409
    assert error_code(response) == "payment_not_refundable"
    payment.refresh_from_db()
    assert payment.status == status
    assert not FakeGatewayRequest.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_second_refund_is_refused_unless_it_repeats_the_first_request(
    refund_api: APIClient,
) -> None:
    payment = PaymentFactory(succeeded=True)
    first = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")

    repeated = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")
    another = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-2")
    unkeyed = refund_api.post(refund_url(payment))

    assert first.status_code == 200
    assert repeated.status_code == 200
    assert repeated.json() == first.json()
    assert "Idempotent-Replayed" not in first
    assert repeated["Idempotent-Replayed"] == "true"
    assert (another.status_code, error_code(another)) == (409, "payment_not_refundable")
    assert (unkeyed.status_code, error_code(unkeyed)) == (409, "payment_not_refundable")
    assert FakeGatewayRequest.objects.get(operation="refund").calls == 1
    assert len(published("payments.PaymentRefunded")) == 1


def test_the_same_key_on_another_payments_refund_is_409_and_refunds_nothing(
    refund_api: APIClient,
) -> None:
    first, second = PaymentFactory(succeeded=True), PaymentFactory(succeeded=True)
    assert refund_api.post(refund_url(first), HTTP_IDEMPOTENCY_KEY="refund-1").status_code == 200

    response = refund_api.post(refund_url(second), HTTP_IDEMPOTENCY_KEY="refund-1")

    assert (response.status_code, error_code(response)) == (409, "idempotency_key_reused")
    second.refresh_from_db()
    assert second.status == "succeeded"
    assert list(FakeGatewayRequest.objects.values_list("payment_id", flat=True)) == [first.id]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(first.id)]


@pytest.mark.parametrize("key", ["k" * 256, " padded", "tab\there", ""])
def test_a_refund_key_that_is_not_one_is_400_and_refunds_nothing(
    refund_api: APIClient, key: str
) -> None:
    # Not cut short: two long keys with the same start would be one key.
    payment = PaymentFactory(succeeded=True)

    response = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY=key)

    assert (response.status_code, error_code(response)) == (400, "invalid_idempotency_key")
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.filter(operation="refund").exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b'{"amount": "1.00"}', "unknown_field", id="an amount: refunds are whole"),
        pytest.param(b'{"amount": ', "parse_error", id="malformed JSON"),
    ],
)
def test_a_refund_with_a_body_is_400_and_refunds_nothing(
    refund_api: APIClient, body: bytes, code: str
) -> None:
    payment = PaymentFactory(succeeded=True)

    response = refund_api.generic(
        "POST", refund_url(payment), body, content_type="application/json"
    )

    assert (response.status_code, error_code(response)) == (400, code)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.filter(operation="refund").exists()


def test_staff_without_the_refund_permission_may_not_refund(staff_api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)

    response = staff_api.post(refund_url(payment))

    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.exists()


def test_staff_without_the_refund_permission_get_no_refund_action(
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    client = Client()
    client.force_login(make_user("admin@example.com", staff=True))
    payment = PaymentFactory(succeeded=True)

    listed = client.get("/admin/payments/payment/")
    client.post(
        "/admin/payments/payment/", {"action": "refund", "_selected_action": [str(payment.id)]}
    )

    assert listed.status_code == 200
    assert listed.context["action_form"] is None  # no action at all: refund was the only one
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.exists()


def test_a_shopper_may_not_refund(user_api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)

    response = user_api.post(refund_url(payment))

    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.exists()


def test_an_anonymous_caller_may_not_refund(api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)

    response = api.post(refund_url(payment))

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_refunding_an_unknown_payment_is_404(refund_api: APIClient) -> None:
    response = refund_api.post(refund_url(PaymentFactory.build()))

    assert response.status_code == 404
    assert error_code(response) == "not_found"


class TimingOutRefundsGateway(FakeGateway):
    """The fake gateway, except that a refund call never reaches it: it times out."""

    def refund(self, **kwargs: Any) -> RefundResult:
        raise GatewayTimeout("no answer")


class RefundsButTimesOutGateway(FakeGateway):
    """The fake gateway refunds, then its answer is lost: the outcome is unknown to the shop."""

    def refund(self, **kwargs: Any) -> RefundResult:
        super().refund(**kwargs)
        raise GatewayTimeout("the answer was lost")


class WorkerDied(Exception):
    """Stands for the process dying between the gateway call and recording the refund."""


class RefundsThenTheWorkerDiesGateway(FakeGateway):
    def refund(self, **kwargs: Any) -> RefundResult:
        super().refund(**kwargs)
        raise WorkerDied()


class DecliningRefundsGateway(FakeGateway):
    """The fake gateway, except that it refuses every refund for good."""

    def refund(self, **kwargs: Any) -> RefundResult:
        return RefundResult(
            reference="",
            succeeded=False,
            failure_code="charge_disputed",
            failure_reason="the charge is disputed",
        )


def use_gateway(settings: Any, gateway: type | None = None) -> None:
    settings.PAYMENT_GATEWAY = (
        f"{__name__}.{gateway.__name__}" if gateway else "apps.payments.gateways.fake.FakeGateway"
    )


def refund_calls() -> list[tuple[str, int, str]]:
    rows = FakeGatewayRequest.objects.filter(operation="refund")
    return [(r.idempotency_key, r.calls, r.outcome) for r in rows]


def paid_order(quantity: int = 2) -> tuple[ProductDTO, str, Payment]:
    """A mug bought through checkout: (product, cart id, its succeeded payment)."""
    mug = make_product(stock=10)
    shopper = APIClient()
    cart_id, _ = shop(shopper, mug, quantity)
    assert checkout(shopper, cart_id, "tok_ok").status_code == 202
    payment = Payment.objects.get(cart_id=cart_id)
    assert (payment.status, status_of(shopper, cart_id)) == ("succeeded", "paid")
    return mug, cart_id, payment


def test_a_gateway_that_does_not_answer_leaves_the_refund_owed_and_a_repeat_makes_it(
    refund_api: APIClient, settings: Any
) -> None:
    payment = PaymentFactory(succeeded=True)
    use_gateway(settings, TimingOutRefundsGateway)
    # A 5xx is reported like any server error; the client should not re-raise it here.
    refund_api.raise_request_exception = False

    response = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")

    assert (response.status_code, error_code(response)) == (503, "gateway_unavailable")
    assert "recorded as owed" in response.json()["errors"][0]["detail"]
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.refund_owed_since is not None
    assert (payment.refund_idempotency_key, payment.refund_reference) == ("refund-1", "")
    assert not OutboxEvent.objects.exists()
    assert kinds(payment) == ["refund_owed"]

    use_gateway(settings)
    repeated = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")

    assert (repeated.status_code, repeated.json()["status"]) == (200, "refunded")
    payment.refresh_from_db()
    assert payment.refund_reference == FakeGatewayRequest.objects.get(operation="refund").reference
    assert refund_calls() == [(f"refund:{payment.id}", 1, "succeeded")]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert kinds(payment) == ["refund_owed", "refund_owed", "refunded"]
    assert services.payments_resume_stalled(older_than_seconds=0) == 0


def test_a_refund_left_owed_and_made_by_another_staff_member_answers_the_first_ones_repeat(
    refund_api: APIClient, make_user: Any, settings: Any
) -> None:
    payment = PaymentFactory(succeeded=True)
    colleague = APIClient()
    colleague.force_authenticate(may_refund(make_user("colleague@example.com", staff=True)))
    use_gateway(settings, TimingOutRefundsGateway)
    refund_api.raise_request_exception = False
    first = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="mine-1")
    assert first.status_code == 503  # owed, unconfirmed
    use_gateway(settings)

    theirs = colleague.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="theirs-1")
    repeated = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="mine-1")

    # Both asked for this refund, and it was made once: both repeats answer as it is.
    assert (theirs.status_code, theirs.json()["status"]) == (200, "refunded")
    assert (repeated.status_code, repeated.json()["status"]) == (200, "refunded")
    assert "Idempotent-Replayed" not in theirs  # the request that made it
    assert repeated["Idempotent-Replayed"] == "true"  # made by another's: nothing done now
    again = colleague.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="theirs-1")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert refund_calls() == [(f"refund:{payment.id}", 1, "succeeded")]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]


def test_a_refund_the_gateway_made_without_answering_is_completed_by_the_sweep(
    refund_api: APIClient, settings: Any
) -> None:
    mug, cart_id, payment = paid_order(quantity=2)
    assert stock(mug) == (8, 0, 8)
    use_gateway(settings, RefundsButTimesOutGateway)
    refund_api.raise_request_exception = False

    response = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")

    assert (response.status_code, error_code(response)) == (503, "gateway_unavailable")
    payment.refresh_from_db()
    assert (payment.status, payment.refund_owed_since is not None) == ("succeeded", True)
    assert refund_calls() == [(f"refund:{payment.id}", 1, "succeeded")]  # money went back
    assert published("payments.PaymentRefunded") == []
    assert stock(mug) == (8, 0, 8)

    use_gateway(settings)
    resumed = services.payments_resume_stalled(older_than_seconds=0)

    payment.refresh_from_db()
    assert (resumed, payment.status) == (1, "refunded")
    assert refund_calls() == [(f"refund:{payment.id}", 2, "succeeded")]  # asked again, once
    assert payment.refund_reference == FakeGatewayRequest.objects.get(operation="refund").reference
    assert [p["cart_id"] for p in published("payments.PaymentRefunded")] == [cart_id]
    assert stock(mug) == (10, 0, 10)
    assert services.payments_resume_stalled(older_than_seconds=0) == 0
    # The staff member's request, repeated, answers like a success and calls nobody.
    repeated = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")
    assert (repeated.status_code, repeated.json()["status"]) == (200, "refunded")
    assert refund_calls() == [(f"refund:{payment.id}", 2, "succeeded")]


def test_a_worker_dying_after_the_gateway_refunded_leaves_a_refund_the_sweep_makes(
    settings: Any, make_user: Any
) -> None:
    mug, cart_id, payment = paid_order(quantity=1)
    staff = make_user("refunds@example.com", staff=True)
    use_gateway(settings, RefundsThenTheWorkerDiesGateway)

    with pytest.raises(WorkerDied):
        services.payment_refund(payment_id=payment.id, actor_id=staff.pk)

    payment.refresh_from_db()
    assert (payment.status, payment.refund_owed_since is not None) == ("succeeded", True)
    assert payment.refunded_by == staff.pk
    assert published("payments.PaymentRefunded") == []
    assert stock(mug) == (9, 0, 9)

    use_gateway(settings)
    assert services.payments_resume_stalled(older_than_seconds=0) == 1

    payment.refresh_from_db()
    assert (payment.status, payment.refunded_by) == ("refunded", staff.pk)
    assert refund_calls() == [(f"refund:{payment.id}", 2, "succeeded")]
    assert [p["cart_id"] for p in published("payments.PaymentRefunded")] == [cart_id]
    assert stock(mug) == (10, 0, 10)
    assert kinds(payment) == ["created", "succeeded", "refund_owed", "refunded"]


def test_a_refund_the_gateway_declines_is_409_and_leaves_nothing_owed(
    refund_api: APIClient, settings: Any
) -> None:
    mug, _, payment = paid_order(quantity=2)
    use_gateway(settings, DecliningRefundsGateway)
    outbox_before = OutboxEvent.objects.count()

    response = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")

    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "refund_declined",
            "detail": "The payment provider declined the refund (the charge is disputed); "
            "nothing changed.",
            "attr": None,
        }
    ]
    payment.refresh_from_db()
    assert (payment.status, payment.refund_owed_since, payment.refund_reference) == (
        "succeeded",
        None,
        "",
    )
    assert (payment.refunded_by, payment.refund_idempotency_key) == (None, "")
    assert OutboxEvent.objects.count() == outbox_before  # nothing published
    assert stock(mug) == (8, 0, 8)
    assert kinds(payment) == ["created", "succeeded", "refund_owed", "refund_declined"]
    assert PaymentEvent.objects.get(kind="refund_declined").detail["failure_code"] == (
        "charge_disputed"
    )
    assert services.payments_resume_stalled(older_than_seconds=0) == 0  # nothing to sweep


@pytest.fixture
def superuser(make_user: Any) -> Any:
    staff = make_user("admin@example.com", staff=True)
    staff.is_superuser = True
    staff.save()
    return staff


@pytest.fixture
def superuser_client(superuser: Any) -> Client:
    """The admin, signed in as ``superuser``."""
    client = Client()
    client.force_login(superuser)
    return client


def test_the_admin_reports_a_refund_the_gateway_did_not_confirm(
    superuser: Any, superuser_client: Client, settings: Any
) -> None:
    payment = PaymentFactory(succeeded=True)
    use_gateway(settings, TimingOutRefundsGateway)

    response = superuser_client.post(
        "/admin/payments/payment/",
        {"action": "refund", "_selected_action": [str(payment.id)]},
        follow=True,
    )

    assert response.status_code == 200
    text = response.content.decode()
    assert "It is recorded as owed and will be completed automatically" in text
    assert "payments refunded" not in text
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_by) == ("succeeded", superuser.pk)
    assert payment.refund_owed_since is not None


def test_the_service_refunds_once_when_called_twice() -> None:
    payment = PaymentFactory(succeeded=True)

    services.payment_refund(payment_id=payment.id)
    with pytest.raises(services.PaymentNotRefundable):
        services.payment_refund(payment_id=payment.id)

    assert FakeGatewayRequest.objects.get(operation="refund").calls == 1
    assert len(published("payments.PaymentRefunded")) == 1


class RecordingRefundsGateway(FakeGateway):
    """The fake gateway, noting the charge reference each refund names."""

    references: list[str] = []

    def refund(self, **kwargs: Any) -> RefundResult:
        self.references.append(kwargs["reference"])
        return super().refund(**kwargs)


def test_a_refund_asked_for_while_the_charge_lands_names_the_charge_to_the_gateway(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_gateway(settings, RecordingRefundsGateway)
    monkeypatch.setattr(RecordingRefundsGateway, "references", [])
    payment = PaymentFactory(payment_token="tok_ok")  # pending when staff's request reads it
    owe_refund = services._owe_staff_refund

    def charge_lands_first(*args: Any, **kwargs: Any) -> Payment:
        services.payment_charge(payment_id=payment.id)  # commits before the refund's lock
        return owe_refund(*args, **kwargs)

    monkeypatch.setattr(services, "_owe_staff_refund", charge_lands_first)

    assert services.payment_refund(payment_id=payment.id).payment.status == "refunded"

    payment.refresh_from_db()
    assert payment.gateway_reference.startswith("fake_ch_")
    assert RecordingRefundsGateway.references == [payment.gateway_reference]


def test_the_admin_refund_action_refunds_succeeded_payments_and_reports_the_rest(
    superuser: Any, superuser_client: Client
) -> None:
    succeeded, pending = PaymentFactory(succeeded=True), PaymentFactory()

    response = superuser_client.post(
        "/admin/payments/payment/",
        {"action": "refund", "_selected_action": [str(succeeded.id), str(pending.id)]},
        follow=True,
    )

    assert response.status_code == 200
    succeeded.refresh_from_db()
    pending.refresh_from_db()
    assert (succeeded.status, pending.status) == ("refunded", "pending")
    assert succeeded.refunded_by == superuser.pk
    text = response.content.decode()
    assert "1 payments refunded." in text
    assert "Only a succeeded payment can be refunded; this one is pending." in text
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(succeeded.id)]


def test_the_admin_refund_action_over_more_payments_than_it_takes_refunds_none(
    superuser_client: Client,
) -> None:
    Payment.objects.bulk_create(PaymentFactory.build_batch(ACTION_LIMIT + 1, succeeded=True))
    page_ids = [str(pk) for pk in Payment.objects.values_list("pk", flat=True)[:100]]

    response = superuser_client.post(
        "/admin/payments/payment/",
        {"action": "refund", "_selected_action": page_ids, "select_across": "1"},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "More than 1,000 selected; nothing was done. An action works through at most 1,000 "
        "at a time: narrow the list with its filters or search, then run it again."
    ]
    assert set(Payment.objects.values_list("status", flat=True)) == {"succeeded"}
    assert published("payments.PaymentRefunded") == []


def test_the_admin_shows_a_payment_with_its_event_log_and_without_its_token(
    superuser_client: Client,
) -> None:
    checkout = publish_checkout(payment_token="tok_ok")
    payment = Payment.objects.get(cart_id=checkout.cart_id)

    page = superuser_client.get(f"/admin/payments/payment/{payment.id}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "succeeded" in text
    assert "created" in text
    assert "tok_ok" not in text
