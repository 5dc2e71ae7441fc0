"""A gateway task whose database connection is cut under it runs again at once, on a new
connection: what the gateway did is recorded within the task, once, instead of waiting
minutes for the stalled-payments sweep. A charge runs again only the step that failed: the
gateway is not asked again, and a charge made in time is not refused for a reservation that
ran out since. The server really ends the connection (``pg_terminate_backend``, as a
failover or an operator would)."""

import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.payments import tasks
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import FakeGatewayRequest, Payment
from tests.payments.conftest import charge_retries, kinds, published
from tests.payments.factories import PaymentFactory
from tests.postgres import terminate_own_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class ConnectionCutGateway(FakeGateway):
    """Answers (its books are written), or times out, then the shop's connection is cut before
    the shop records what happened: the first time only. ``call_seconds``: how long a charge
    call takes. ``cut_first``: the cut comes as the call starts instead, under the fake
    gateway's own books (they share the shop's database)."""

    cuts = 0
    call_seconds = 0.0
    cut_first = False

    def charge(self, **kwargs: Any) -> Any:
        time.sleep(self.call_seconds)
        if ConnectionCutGateway.cut_first:
            ConnectionCutGateway.cuts += 1
            terminate_own_connection()
            return super().charge(**kwargs)
        with self._then_cut():
            return super().charge(**kwargs)

    def refund(self, **kwargs: Any) -> Any:
        with self._then_cut():
            return super().refund(**kwargs)

    @contextlib.contextmanager
    def _then_cut(self) -> Iterator[None]:
        try:
            yield
        finally:
            if not ConnectionCutGateway.cuts:
                ConnectionCutGateway.cuts += 1
                terminate_own_connection()


@pytest.fixture(autouse=True)
def connection_cut_once(settings: SettingsWrapper) -> Iterator[None]:
    ConnectionCutGateway.cuts, ConnectionCutGateway.call_seconds = 0, 0.0
    ConnectionCutGateway.cut_first = False
    settings.PAYMENT_GATEWAY = f"{__name__}.ConnectionCutGateway"
    yield
    assert ConnectionCutGateway.cuts == 1, "the connection was never cut"


def test_a_charge_whose_connection_is_cut_after_the_gateway_answered_is_recorded_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payment = PaymentFactory(payment_token="tok_ok")

    assert tasks.charge_payment(str(payment.id)) == "succeeded"

    payment.refresh_from_db()
    charge = FakeGatewayRequest.objects.get()
    assert (charge.calls, charge.outcome) == (1, "succeeded")  # the answer in hand is recorded
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    assert payment.gateway_reference == charge.reference
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]
    assert kinds(payment) == ["succeeded"]
    assert f"charging payment {payment.id}: database error" in caplog.text


def test_a_charge_whose_connection_is_cut_under_the_fake_gateways_books_is_made_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ConnectionCutGateway.cut_first = True
    payment = PaymentFactory(payment_token="tok_ok")

    assert tasks.charge_payment(str(payment.id)) == "succeeded"

    charge = FakeGatewayRequest.objects.get()
    assert (charge.calls, charge.outcome) == (1, "succeeded")
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]
    assert "fake gateway: charge" in caplog.text


def test_a_charge_made_in_time_is_recorded_though_the_reservation_ran_out_while_reconnecting() -> (
    None
):
    # Claimed just before the reservation's end; the gateway's answer comes after it.
    ConnectionCutGateway.call_seconds = 0.6
    payment = PaymentFactory(
        payment_token="tok_ok", reserved_until=timezone.now() + timedelta(seconds=0.5)
    )

    assert tasks.charge_payment(str(payment.id)) == "succeeded"

    assert FakeGatewayRequest.objects.get().outcome == "succeeded"
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]


def test_a_timeout_whose_connection_is_cut_counts_one_attempt_and_keeps_its_backoff(
    settings: SettingsWrapper,
) -> None:
    settings.PAYMENT_MAX_ATTEMPTS = 2
    payment = PaymentFactory(payment_token="tok_flaky")

    assert tasks.charge_payment(str(payment.id)) == "pending"

    payment.refresh_from_db()
    assert payment.attempts == 1
    assert FakeGatewayRequest.objects.get().calls == 1  # not asked again at once
    assert len(charge_retries()) == 1  # the retry waits for its backoff
    assert kinds(payment) == ["charge_timed_out"]


def test_an_owed_refund_whose_connection_is_cut_after_the_gateway_answered_is_made_once() -> None:
    payment = PaymentFactory(succeeded=True, refund_owed_since=timezone.now() - timedelta(1))

    assert tasks.refund_owed_payment(str(payment.id)) == "refunded"

    refund = FakeGatewayRequest.objects.get()
    assert (refund.operation, refund.calls, refund.outcome) == ("refund", 2, "succeeded")
    assert Payment.objects.get(pk=payment.pk).refund_reference == refund.reference
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
