"""A gateway task whose database connection is cut under it runs again at once, on a new
connection: the gateway's answer is recorded within the task, once, instead of waiting
minutes for the stalled-payments sweep. The server really ends the connection
(``pg_terminate_backend``, as a failover or an operator would)."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.payments import tasks
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import FakeGatewayRequest, Payment
from tests.payments.conftest import kinds, published
from tests.payments.factories import PaymentFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def terminate_own_connection() -> None:
    """The server ends this process's database connection; its next query fails."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()  # type: ignore[misc]
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


class ConnectionCutAfterTheAnswerGateway(FakeGateway):
    """Answers (its books are written), then the shop's connection is cut before the shop
    records the answer: the first time only."""

    cuts = 0

    def charge(self, **kwargs: Any) -> Any:
        return self._then_cut(super().charge(**kwargs))

    def refund(self, **kwargs: Any) -> Any:
        return self._then_cut(super().refund(**kwargs))

    def _then_cut(self, answer: Any) -> Any:
        if not ConnectionCutAfterTheAnswerGateway.cuts:
            ConnectionCutAfterTheAnswerGateway.cuts += 1
            terminate_own_connection()
        return answer


@pytest.fixture(autouse=True)
def connection_cut_once(settings: SettingsWrapper) -> Iterator[None]:
    ConnectionCutAfterTheAnswerGateway.cuts = 0
    settings.PAYMENT_GATEWAY = f"{__name__}.ConnectionCutAfterTheAnswerGateway"
    yield
    assert ConnectionCutAfterTheAnswerGateway.cuts == 1, "the connection was never cut"


def test_a_charge_whose_connection_is_cut_after_the_gateway_answered_is_recorded_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payment = PaymentFactory(payment_token="tok_ok")

    assert tasks.charge_payment(str(payment.id)) == "succeeded"

    payment.refresh_from_db()
    charge = FakeGatewayRequest.objects.get()
    assert (charge.calls, charge.outcome) == (2, "succeeded")  # asked again under its key
    assert (payment.status, payment.gateway_reference) == ("succeeded", charge.reference)
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]
    assert kinds(payment) == ["succeeded"]
    assert f"charging payment {payment.id}: database error" in caplog.text


def test_an_owed_refund_whose_connection_is_cut_after_the_gateway_answered_is_made_once() -> None:
    payment = PaymentFactory(succeeded=True, refund_owed_since=timezone.now() - timedelta(1))

    assert tasks.refund_owed_payment(str(payment.id)) == "refunded"

    refund = FakeGatewayRequest.objects.get()
    assert (refund.operation, refund.calls, refund.outcome) == ("refund", 2, "succeeded")
    assert Payment.objects.get(pk=payment.pk).refund_reference == refund.reference
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
