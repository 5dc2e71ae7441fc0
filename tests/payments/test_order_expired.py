"""An order that ends without its money: an expired order's payment never charges, and a
charge that lands anyway (late, or after we gave up on the gateway) is refunded once."""

import contextlib
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.cart.events import CartExpired
from apps.payments import services
from apps.payments.gateways import GatewayError, GatewayTimeout, RefundResult, signing
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import FakeGatewayRequest, Payment, PaymentEvent
from ecommerce.bus import publish
from ecommerce.bus.models import Delivery
from ecommerce.bus.relay import Relay
from tests.payments.conftest import (
    kinds,
    payment_of,
    publish_checkout,
    published,
    run_due_charge_retries,
)
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-test-secret"


def expire_order(cart_id: UUID, **fields: Any) -> None:
    """Publish CartExpired as cart_expire does: inside its transaction."""
    with transaction.atomic():
        publish(CartExpired(cart_id=cart_id, user_id=None, email="shopper@example.com", **fields))


def gateway_calls(operation: str) -> list[tuple[str, int, str]]:
    rows = FakeGatewayRequest.objects.filter(operation=operation).order_by("created_at")
    return [(r.idempotency_key, r.calls, r.outcome) for r in rows]


class ExpiringWhileChargingGateway(FakeGateway):
    """The fake gateway, except that the order expires while the charge is in flight."""

    def charge(self, **kwargs: Any) -> Any:
        payment = Payment.objects.get(pk=kwargs["payment_id"])
        expire_order(payment.cart_id)
        # A running relay delivers the expiry to payments while the charge is in flight.
        Relay().drain()
        return super().charge(**kwargs)


class RefusingRefundsGateway(FakeGateway):
    def refund(self, **kwargs: Any) -> RefundResult:
        raise GatewayError("the refund endpoint is down")


class DecliningRefundsGateway(FakeGateway):
    def refund(self, **kwargs: Any) -> RefundResult:
        return RefundResult(reference="", succeeded=False, failure_code="charge_disputed")


def test_a_pending_payment_of_an_expired_order_fails_and_its_retry_charges_nothing(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.PAYMENT_MAX_ATTEMPTS = 5
    checkout = publish_checkout(payment_token="tok_flaky")  # first call timed out

    expire_order(checkout.cart_id)
    run_due_charge_retries()

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.failure_code, payment.attempts) == (
        "failed",
        "order_expired",
        1,
    )
    assert gateway_calls("charge") == [(payment.idempotency_key, 1, "pending")]
    assert [(p["payment_id"], p["failure_code"]) for p in published("payments.PaymentFailed")] == [
        (str(payment.id), "order_expired")
    ]
    assert published("payments.PaymentSucceeded") == []
    assert kinds(payment) == ["created", "charge_timed_out", "failed"]


def test_a_succeeded_payment_of_an_expired_order_is_refunded_once() -> None:
    checkout = publish_checkout(payment_token="tok_ok")
    payment = payment_of(checkout.cart_id)

    expire_order(checkout.cart_id)
    expire_order(checkout.cart_id)  # another CartExpired (a replay) changes nothing

    payment.refresh_from_db()
    assert payment.status == "refunded"
    assert payment.refund_reference.startswith("fake_re_")
    assert gateway_calls("refund") == [(f"refund:{payment.id}", 1, "succeeded")]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert kinds(payment) == ["created", "succeeded", "refund_owed", "refunded"]


def test_a_charge_that_lands_after_the_order_expired_is_refunded(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_GATEWAY = f"{__name__}.ExpiringWhileChargingGateway"

    checkout = publish_checkout(payment_token="tok_ok")

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.failure_code) == ("refunded", "order_expired")
    [charge] = FakeGatewayRequest.objects.filter(operation="charge")
    assert (charge.outcome, payment.gateway_reference) == ("succeeded", charge.reference)
    assert gateway_calls("refund") == [(f"refund:{payment.id}", 1, "succeeded")]
    assert published("payments.PaymentSucceeded") == []
    assert [p["failure_code"] for p in published("payments.PaymentFailed")] == ["order_expired"]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert kinds(payment) == ["created", "failed", "refund_owed", "refunded"]


def test_a_charge_reported_by_webhook_after_we_gave_up_is_refunded(
    settings,  # type: ignore[no-untyped-def]
    api: APIClient,
) -> None:
    settings.PAYMENT_WEBHOOK_SECRET = SECRET
    payment = PaymentFactory(failed=True, failure_code="gateway_unavailable")
    body = json.dumps(
        {
            "id": "evt_late",
            "type": "charge.succeeded",
            "data": {"payment_id": str(payment.id), "reference": "fake_ch_late"},
        }
    ).encode()

    response = api.generic(
        "POST",
        "/api/v1/payments/webhook",
        body,
        content_type="application/json",
        HTTP_X_SIGNATURE=signing.sign(body, secret=SECRET),
    )

    assert response.json() == {"gateway_event_id": "evt_late", "result": "applied"}
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code, payment.gateway_reference) == (
        "refunded",
        "gateway_unavailable",
        "fake_ch_late",
    )
    assert gateway_calls("refund") == [(f"refund:{payment.id}", 1, "succeeded")]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert published("payments.PaymentSucceeded") == []
    assert kinds(payment) == ["webhook", "refund_owed", "refunded"]


def test_an_owed_refund_the_gateway_refused_is_made_by_the_stalled_payments_sweep(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.PAYMENT_GATEWAY = f"{__name__}.RefusingRefundsGateway"
    checkout = publish_checkout(payment_token="tok_ok")
    expire_order(checkout.cart_id)
    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.refund_owed_since is not None) == ("succeeded", True)
    assert published("payments.PaymentRefunded") == []

    settings.PAYMENT_GATEWAY = "apps.payments.gateways.fake.FakeGateway"
    resumed = services.payments_resume_stalled(older_than_seconds=0)

    payment.refresh_from_db()
    assert (resumed, payment.status) == (1, "refunded")
    assert gateway_calls("refund") == [(f"refund:{payment.id}", 1, "succeeded")]
    assert services.payments_resume_stalled(older_than_seconds=0) == 0


def test_an_owed_refund_the_gateway_declines_for_good_is_no_longer_owed(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    checkout = publish_checkout(payment_token="tok_ok")
    settings.PAYMENT_GATEWAY = f"{__name__}.DecliningRefundsGateway"

    expire_order(checkout.cart_id)  # the refund task runs and is refused

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.refund_owed_since, payment.refund_reference) == (
        "succeeded",
        None,
        "",
    )
    assert published("payments.PaymentRefunded") == []
    assert kinds(payment) == ["created", "succeeded", "refund_owed", "refund_declined"]
    assert PaymentEvent.objects.get(kind="refund_declined").detail == {
        "source": "refund_owed",
        "failure_code": "charge_disputed",
    }
    # The sweep does not ask the gateway again, and the task, run again, does nothing.
    assert services.payments_resume_stalled(older_than_seconds=0) == 0
    assert services.payment_refund_owed(payment_id=payment.id).status == "succeeded"
    assert kinds(payment) == ["created", "succeeded", "refund_owed", "refund_declined"]


def test_an_expiry_that_overtakes_the_checkout_ends_the_payment_before_it_starts() -> None:
    cart_id = UUID("00000000-0000-0000-0000-0000000000c1")

    expire_order(cart_id, total=Decimal("20.00"), currency="EUR")

    payment = payment_of(cart_id)
    assert (payment.status, payment.failure_code, payment.attempts) == (
        "failed",
        "order_expired",
        0,
    )
    assert (payment.amount, payment.currency, payment.email) == (
        Decimal("20.00"),
        "EUR",
        "shopper@example.com",
    )
    assert kinds(payment) == ["failed"]
    assert Delivery.objects.get(subscriber="payments.cancel_expired_order").status == "delivered"
    [failed] = published("payments.PaymentFailed")
    assert (failed["payment_id"], failed["failure_code"]) == (str(payment.id), "order_expired")

    publish_checkout(cart_id=cart_id, payment_token="tok_ok")  # the checkout, late

    assert Payment.objects.get() == payment
    assert (payment_of(cart_id).status, kinds(payment)) == ("failed", ["failed"])
    assert gateway_calls("charge") == []
    assert len(published("payments.PaymentFailed")) == 1
    expire_order(cart_id, total=Decimal("20.00"), currency="EUR")  # another, changes nothing
    assert (Payment.objects.count(), kinds(payment)) == (1, ["failed"])


def test_refund_owed_does_nothing_for_a_payment_that_owes_nothing() -> None:
    payment = PaymentFactory(succeeded=True, amount=Decimal("25.00"))

    dto = services.payment_refund_owed(payment_id=payment.id)

    assert dto.status == "succeeded"
    assert not FakeGatewayRequest.objects.exists()


# A charge whose answer never came: the payment fails (the order expired, or we gave up on the
# gateway) without knowing whether money was taken. The gateway is asked what became of it.


class ChargesButTheAnswerIsLostGateway(FakeGateway):
    """Takes the money, then the answer is lost: the shop sees a timeout."""

    def charge(self, **kwargs: Any) -> Any:
        super().charge(**kwargs)
        raise GatewayTimeout("the answer was lost")


class ChargesThenTheWorkerDiesGateway(FakeGateway):
    """Takes the money; the worker dies before it records the answer."""

    def charge(self, **kwargs: Any) -> Any:
        super().charge(**kwargs)
        raise SystemExit("the worker died")


class CannotSayGateway(FakeGateway):
    def charge_outcome(self, **kwargs: Any) -> Any:
        raise GatewayError("the gateway's lookup is down")


def charge_without_an_answer(settings, gateway: type) -> UUID:  # type: ignore[no-untyped-def]
    settings.PAYMENT_GATEWAY = f"{__name__}.{gateway.__name__}"
    with contextlib.suppress(SystemExit):  # the task died with its worker, after the checkout
        publish_checkout(payment_token="tok_ok")
    settings.PAYMENT_GATEWAY = "apps.payments.gateways.fake.FakeGateway"
    [payment] = Payment.objects.all()
    assert gateway_calls("charge") == [(payment.idempotency_key, 1, "succeeded")]
    return payment.cart_id


@pytest.mark.parametrize(
    "gateway", [ChargesButTheAnswerIsLostGateway, ChargesThenTheWorkerDiesGateway]
)
def test_a_charge_taken_without_an_answer_is_given_back_when_the_order_expires(
    settings,  # type: ignore[no-untyped-def]
    gateway: type,
) -> None:
    settings.PAYMENT_MAX_ATTEMPTS = 5
    cart_id = charge_without_an_answer(settings, gateway)

    expire_order(cart_id)
    run_due_charge_retries()  # a retry scheduled after the timeout now charges nothing

    payment = payment_of(cart_id)
    assert (payment.status, payment.failure_code) == ("refunded", "order_expired")
    assert payment.charge_unsettled_since is None
    assert gateway_calls("charge") == [(payment.idempotency_key, 1, "succeeded")]
    assert gateway_calls("refund") == [(f"refund:{payment.id}", 1, "succeeded")]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert kinds(payment)[-3:] == ["charge_settled", "refund_owed", "refunded"]


def test_a_charge_taken_after_we_gave_up_on_the_gateway_is_given_back(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_MAX_ATTEMPTS = 1
    cart_id = charge_without_an_answer(settings, ChargesButTheAnswerIsLostGateway)

    payment = payment_of(cart_id)
    assert (payment.status, payment.failure_code) == ("refunded", "gateway_unavailable")
    assert gateway_calls("refund") == [(f"refund:{payment.id}", 1, "succeeded")]


def test_a_charge_not_taken_is_settled_once_no_call_can_be_on_its_way(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_MAX_ATTEMPTS = 5
    checkout = publish_checkout(payment_token="tok_flaky")  # timed out, nothing taken
    expire_order(checkout.cart_id)

    # Not taken so far, but a call made just before the expiry could still land.
    payment = payment_of(checkout.cart_id)
    assert payment.charge_unsettled_since is not None
    settings.PAYMENT_STALL_SECONDS = 0
    assert services.payments_resume_stalled() == 1

    payment.refresh_from_db()
    assert (payment.status, payment.charge_unsettled_since) == ("failed", None)
    assert gateway_calls("refund") == []
    assert kinds(payment)[-1] == "charge_settled"
    assert services.payments_resume_stalled() == 0


def test_a_gateway_that_cannot_say_is_asked_again_by_the_sweep(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_MAX_ATTEMPTS = 5
    cart_id = charge_without_an_answer(settings, ChargesButTheAnswerIsLostGateway)
    settings.PAYMENT_GATEWAY = f"{__name__}.CannotSayGateway"
    expire_order(cart_id)
    assert payment_of(cart_id).charge_unsettled_since is not None

    settings.PAYMENT_GATEWAY = "apps.payments.gateways.fake.FakeGateway"
    settings.PAYMENT_STALL_SECONDS = 0
    services.payments_resume_stalled()

    assert payment_of(cart_id).status == "refunded"


class SlowCallThatChargesGateway(FakeGateway):
    """The charge call outlasts PAYMENT_STALL_SECONDS (a slow gateway, a paused worker):
    meanwhile the order expires and the gateway, asked, has nothing taken. Then it takes the
    money and the answer is lost."""

    def charge(self, **kwargs: Any) -> Any:
        payment = Payment.objects.get(pk=kwargs["payment_id"])
        expire_order(payment.cart_id)
        Relay().drain()  # failed, its charge left unsettled
        past = timezone.now() - timedelta(hours=1)  # ... the stall time passes ...
        Payment.objects.filter(pk=payment.pk).update(charge_unsettled_since=past, updated_at=past)
        services.payments_resume_stalled()  # asked: not taken
        assert Payment.objects.get(pk=payment.pk).charge_unsettled_since is None
        super().charge(**kwargs)  # the call lands: money taken
        raise GatewayTimeout("the answer was lost")


def test_a_charge_that_lands_after_the_gateway_said_not_taken_is_given_back(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_MAX_ATTEMPTS = 5
    settings.PAYMENT_GATEWAY = f"{__name__}.SlowCallThatChargesGateway"
    checkout = publish_checkout(payment_token="tok_ok")
    settings.PAYMENT_GATEWAY = "apps.payments.gateways.fake.FakeGateway"

    settings.PAYMENT_STALL_SECONDS = 0  # the sweeps after
    services.payments_resume_stalled()

    payment = payment_of(checkout.cart_id)
    assert gateway_calls("charge") == [(payment.idempotency_key, 1, "succeeded")]
    assert payment.status == "refunded"
    assert gateway_calls("refund") == [(f"refund:{payment.id}", 1, "succeeded")]


class ExpiringWhileChargingDecliningRefundsGateway(ExpiringWhileChargingGateway):
    """The order expires while the charge is in flight, the charge lands, and the gateway
    refuses the refund for good (say, the charge is disputed)."""

    def refund(self, **kwargs: Any) -> RefundResult:
        super().refund(**kwargs)  # on the books, to count the calls
        return RefundResult(reference="", succeeded=False, failure_code="charge_disputed")


def test_a_refund_declined_for_good_is_not_owed_again_by_the_charges_settlement(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_GATEWAY = f"{__name__}.ExpiringWhileChargingDecliningRefundsGateway"
    checkout = publish_checkout(payment_token="tok_ok")
    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.refund_owed_since) == ("failed", None)  # declined, cleared

    settings.PAYMENT_STALL_SECONDS = 0
    services.payments_resume_stalled()

    assert kinds(payment).count("refund_declined") == 1
    assert [calls for _, calls, _ in gateway_calls("refund")] == [1]
    assert payment_of(checkout.cart_id).charge_unsettled_since is None


def test_an_expiry_told_without_the_orders_total_takes_it_from_the_late_checkout() -> None:
    # A CartExpired published before the event carried total and currency (still in the
    # outbox, or retried, when this version was deployed).
    cart_id = UUID("00000000-0000-0000-0000-0000000000c2")
    expire_order(cart_id)
    assert (payment_of(cart_id).amount, payment_of(cart_id).currency) == (Decimal("0.00"), "")

    publish_checkout(cart_id=cart_id)  # 25.00 EUR

    payment = payment_of(cart_id)
    assert (payment.status, payment.failure_code) == ("failed", "order_expired")
    assert (payment.amount, payment.currency) == (Decimal("25.00"), "EUR")
    assert gateway_calls("charge") == []
