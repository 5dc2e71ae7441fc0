"""Each charge attempt is made by one task. A charge task carries the number of the attempt it
makes, and takes it only if the attempt before it is the last one made; so a task queued twice
(the stalled sweep finding a task that was only late, a broker delivering one again) calls the
gateway once, and a copy of an old attempt arriving after its retry was scheduled does nothing.
"""

from typing import Any, ClassVar

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.payments import tasks
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import FakeGatewayRequest, Payment
from tests.payments.conftest import charge_retries, kinds, published, run_charge_retries_inline
from tests.payments.factories import PaymentFactory
from tests.postgres import answer_lost_after

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_for_an_attempt_another_task_took_does_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payment = PaymentFactory(payment_token="tok_ok")
    Payment.objects.filter(pk=payment.pk).update(attempts=1)  # attempt 1 is at the gateway

    assert tasks.charge_payment(str(payment.id), "1") == "pending"

    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("pending", 1)
    assert FakeGatewayRequest.objects.count() == 0
    assert published("payments.PaymentSucceeded") == []
    assert (
        f"payment {payment.id}: attempt 1 is not due (1 made); another task has it" in caplog.text
    )


class LateCopyGateway(FakeGateway):
    """While the first charge call is at the gateway, a copy of its task runs (a sweep's, or
    the broker's second delivery); what it answered is kept in ``copies``."""

    copies: ClassVar[list[str]] = []

    def charge(self, **kwargs: Any) -> Any:
        if not LateCopyGateway.copies:
            LateCopyGateway.copies.append(tasks.charge_payment(str(kwargs["payment_id"]), "1"))
        return super().charge(**kwargs)


def test_a_copy_of_a_task_that_runs_while_its_attempt_is_at_the_gateway_charges_nothing(
    settings: SettingsWrapper,
) -> None:
    settings.PAYMENT_GATEWAY = f"{__name__}.LateCopyGateway"
    LateCopyGateway.copies = []
    payment = PaymentFactory(payment_token="tok_ok")

    assert tasks.charge_payment(str(payment.id), "1") == "succeeded"

    assert LateCopyGateway.copies == ["pending"]  # it found attempt 1 taken
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    assert FakeGatewayRequest.objects.get().calls == 1
    assert len(published("payments.PaymentSucceeded")) == 1


def test_a_task_queued_before_attempts_were_numbered_makes_the_next_one() -> None:
    payment = PaymentFactory(payment_token="tok_ok")
    Payment.objects.filter(pk=payment.pk).update(attempts=2)

    assert tasks.charge_payment(str(payment.id)) == "succeeded"

    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 3)


def test_a_timeouts_retry_makes_the_next_attempt_and_a_late_copy_of_the_first_does_nothing() -> (
    None
):
    payment = PaymentFactory(payment_token="tok_flaky")

    assert tasks.charge_payment(str(payment.id), "1") == "pending"  # timed out
    [retry] = charge_retries()
    assert retry.args == f"{str(payment.id)!r}, '2'"

    assert tasks.charge_payment(str(payment.id), "1") == "pending"  # the first, delivered again
    payment.refresh_from_db()
    assert payment.attempts == 1
    assert FakeGatewayRequest.objects.get().calls == 1
    assert kinds(payment) == ["charge_timed_out"]

    for _ in range(4):
        run_charge_retries_inline()
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 3)  # tok_flaky: the third call
    assert len(published("payments.PaymentSucceeded")) == 1


@pytest.mark.postgres
def test_a_claim_whose_answer_was_lost_takes_its_own_attempt_again_and_charges_once() -> None:
    payment = PaymentFactory(payment_token="tok_ok")

    with answer_lost_after("RETURNING *") as lost:  # the claim
        assert tasks.charge_payment(str(payment.id), "1") == "succeeded"

    assert lost, "no claim lost its answer"
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 1)  # counted once
    assert FakeGatewayRequest.objects.get().calls == 1
    assert len(published("payments.PaymentSucceeded")) == 1
