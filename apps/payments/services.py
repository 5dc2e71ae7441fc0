"""Payments's public service interface: use cases, their DTOs and the app's exceptions.

Other apps may import this module and ``apps.payments.events``; the rest of the app is
private.

The money path: ``CartCheckedOut`` -> ``payment_start_for_checkout`` creates the payment (one
per cart) and, after commit, queues ``payment_charge`` on django-q2. That task calls the
gateway outside any transaction, then records the outcome in a short transaction, only if
the payment is still pending, and publishes ``PaymentSucceeded`` or ``PaymentFailed``. A
gateway timeout schedules the task again with exponential backoff, up to
``PAYMENT_MAX_ATTEMPTS`` calls. Every gateway call carries an idempotency key, so no path
charges a cart twice.

An order can end without its money: the reservation expires (``CartExpired``) while the
charge is pending or in flight, or we give up on a gateway that then charges after all. A
pending payment then fails (``order_expired``) so it is never charged; a charge that lands
anyway, reported by the gateway's answer or by a webhook, is owed back: the payment records
``refund_owed_since`` and ``payment_refund_owed`` (a django-q2 task) refunds it. A staff
refund records the same debt before it calls the gateway, so a refund the gateway made
without confirming it is completed by the stalled-payments sweep. A payment that fails after
a charge call nobody answered (the order expired meanwhile, or we gave up on the gateway) is
left ``charge_unsettled_since``: ``payment_settle_charge`` asks the gateway what became of
that charge (``charge_outcome``, by its key) and owes it back if it was taken, so the money
goes back even when no webhook ever comes.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.payments.conf import payment_settings
from apps.payments.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
from apps.payments.gateways import (
    ChargeResult,
    GatewayError,
    GatewayTimeout,
    InvalidWebhook,
    RefundResult,
    get_gateway,
)
from apps.payments.models import Payment, PaymentEvent
from ecommerce.bus import publish
from ecommerce.common.db import (
    db_value,
    fetch_models,
    insert_row,
    insert_unless_exists,
    lock_name,
    transactional,
    update_if,
)
from ecommerce.common.errors import DomainError, NotFound
from ecommerce.common.retry import (
    again_on_database_error,
    backoff_seconds,
    schedule_task_once,
    scheduled_for,
    stall_cutoffs,
)
from ecommerce.common.tasks import queue_task

logger = logging.getLogger(__name__)

Status = Payment.Status
Kind = PaymentEvent.Kind

CHARGE_TASK = "apps.payments.tasks.charge_payment"
REFUND_OWED_TASK = "apps.payments.tasks.refund_owed_payment"
SETTLE_CHARGE_TASK = "apps.payments.tasks.settle_charge"
GATEWAY_UNAVAILABLE = "gateway_unavailable"
ORDER_EXPIRED = "order_expired"
PAYMENT_DECLINED = "payment_declined"
# Codes the shop gives a failure itself (the gateway never answered; the order expired first),
# which the cart and the customer's message read as such: a gateway's code never passes for one.
_SHOP_FAILURE_CODES = frozenset({GATEWAY_UNAVAILABLE, ORDER_EXPIRED})
_ORDER_EXPIRED_REASON = "The order expired before the payment went through."
# What a refund may leave: a succeeded payment, or a failed one that took money after all.
_REFUNDABLE = Q(status=Status.SUCCEEDED) | Q(status=Status.FAILED, refund_owed_since__isnull=False)
_GATEWAY_UNAVAILABLE_REASON = "The payment provider did not respond, so the payment was not taken."


# -- errors ------------------------------------------------------------------------------------


class PaymentNotFound(NotFound):
    default_detail = "Payment not found."


class PaymentNotRefundable(DomainError):
    code = "payment_not_refundable"
    default_detail = "Only a succeeded payment can be refunded."


class GatewayUnavailable(DomainError):
    """A staff refund the gateway did not confirm: it is owed, and made by the sweep."""

    code = GATEWAY_UNAVAILABLE
    status = 503
    default_detail = (
        "The payment provider did not confirm the refund. It is recorded as owed and will be "
        "completed automatically; repeating the request is safe."
    )


class RefundDeclined(DomainError):
    """The gateway refused the refund for good: the payment keeps its money and owes nothing."""

    code = "refund_declined"
    default_detail = "The payment provider declined the refund; nothing was changed."


class RefundKeyReused(DomainError):
    """The caller's ``Idempotency-Key`` already refunded another payment."""

    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used to refund another payment."


class WebhookOutOfOrder(DomainError):
    """A gateway event that does not fit the payment's state yet, but may once an earlier event
    arrives (a refund of a charge not reported yet): not recorded, so the gateway sends it
    again (409 ``webhook_out_of_order``)."""

    code = "webhook_out_of_order"
    default_detail = (
        "The event does not fit the payment's state yet (its charge has not been reported); "
        "nothing was recorded. Send it again later."
    )


class WebhookRejected(DomainError):
    """A bad or old webhook signature (``invalid_signature``) or body (``invalid_webhook``)."""

    status = 400
    codes = {  # which check refused it, and what it answers then (in the API's schema)
        "invalid_signature": "The signature is missing, malformed, too old or does not match.",
        "invalid_webhook": "The webhook body is not a valid event.",
    }

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code  # type: ignore[misc]  # per instance: which check refused it


# -- DTOs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentDTO:
    id: UUID
    cart_id: UUID
    user_id: UUID | None
    email: str
    amount: Decimal
    currency: str
    status: str  # "pending" | "succeeded" | "failed" | "refunded"
    failure_code: str
    gateway: str
    gateway_reference: str
    attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RefundDTO:
    payment: PaymentDTO
    repeated: bool  # a repeat of the request that had asked for it: nothing was done now


@dataclass(frozen=True, slots=True)
class WebhookOutcomeDTO:
    gateway_event_id: str
    payment_id: UUID | None
    result: str  # "applied" | "duplicate" | "ignored"


def to_dto(payment: Payment) -> PaymentDTO:
    return PaymentDTO(
        id=payment.id,
        cart_id=payment.cart_id,
        user_id=payment.user_id,
        email=payment.email,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
        failure_code=payment.failure_code,
        gateway=payment.gateway,
        gateway_reference=payment.gateway_reference,
        attempts=payment.attempts,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


# -- reads -------------------------------------------------------------------------------------


def payment_get(*, payment_id: UUID) -> PaymentDTO:
    """Raises ``PaymentNotFound`` (404 ``not_found``)."""
    return to_dto(_load(payment_id))


def payment_list_for_cart(*, cart_id: UUID) -> list[PaymentDTO]:
    """The cart's payments (at most one today), newest first."""
    return [to_dto(p) for p in Payment.objects.filter(cart_id=cart_id)]


# -- starting and charging ---------------------------------------------------------------------


@transactional
def payment_start_for_checkout(
    *,
    cart_id: UUID,
    checkout_event_id: UUID,
    user_id: UUID | None,
    email: str,
    amount: Decimal,
    currency: str,
    payment_token: str,
    reserved_until: datetime | None = None,
) -> PaymentDTO:
    """Create the cart's payment and, once committed, queue its charge. Publishes nothing.

    Idempotent per cart: a second call (a redelivered or replayed ``CartCheckedOut``) returns
    the existing payment and queues nothing; so does a checkout that arrives after its order
    expired, which finds the payment the expiry recorded failed. The gateway idempotency key
    is made from the cart and the checkout event, so even a charge queued twice moves money
    once. ``reserved_until``, when the order's reservation runs out, is the last moment a
    charge may be made: after it the units are back on sale, so money taken would only be
    refunded; the order's expiry then fails the payment.
    """
    # Insert first: the cart almost always has no payment yet (the bus delivers each event
    # to each subscriber once), so looking before inserting would cost a query for nothing.
    payment = Payment(
        cart_id=cart_id,
        user_id=user_id,
        email=email,
        amount=amount,
        currency=currency,
        gateway=get_gateway().name,
        payment_token=payment_token,
        idempotency_key=f"charge:{cart_id}:{checkout_event_id}",
        reserved_until=reserved_until,
    )
    if not insert_unless_exists(payment, unique_fields=["cart_id"]):
        # A replayed checkout, or one later than its order's expiry: the cart's payment stands.
        # An expiry told before CartExpired carried the order's total recorded none: the
        # checkout says what the order came to.
        Payment.objects.filter(
            cart_id=cart_id, status=Status.FAILED, failure_code=ORDER_EXPIRED, currency=""
        ).update(amount=amount, currency=currency, updated_at=timezone.now())
        return to_dto(Payment.objects.get(cart_id=cart_id))
    _log(
        payment.id,
        Kind.CREATED,
        {"checkout_event_id": str(checkout_event_id), "amount": str(amount)},
    )
    logger.info("payment %s created for cart %s", payment.id, cart_id)
    # Robust: if the broker is down, the error is logged, the transaction's other after-commit
    # work still runs, and the stalled-payments sweep queues this charge again.
    transaction.on_commit(lambda: _enqueue_charge(payment.id, 1), robust=True)
    return to_dto(payment)


def payment_charge(*, payment_id: UUID, attempt: int | None = None) -> PaymentDTO:
    """Make charge attempt number ``attempt`` of a pending payment at the gateway (the
    django-q2 task's body).

    Runs outside any transaction: no lock is held while the gateway is called. Does nothing
    unless the payment is pending, its order's reservation has not run out, and the attempt
    before this one is the last made: each attempt is made by one task only, so a task
    queued twice (a sweep that found it late, a broker that delivered it again) calls the
    gateway once. ``None`` (a task queued before attempts were numbered) makes the next one.
    Publishes ``PaymentSucceeded`` or ``PaymentFailed`` (also ``PaymentFailed`` with
    ``gateway_unavailable`` once the gateway timed out ``PAYMENT_MAX_ATTEMPTS`` times); after
    a timeout below that, schedules the next attempt.

    When the database fails under a step (a connection terminated, a server restarting), that
    step is run again on a new connection (``again_on_database_error``): the claim, or the
    recording of the gateway's answer, which is in hand by then. Not the whole task: a charge
    made in time is recorded even if its reservation ran out meanwhile, one timeout counts one
    attempt, and the gateway is not asked again without its backoff.
    """
    what = f"charging payment {payment_id}"
    if attempt is None:
        attempt = again_on_database_error(partial(_load, payment_id), what=what).attempts + 1
    # The claim's own mark: a claim retried after the first one committed finds it and goes on.
    claimed_at = timezone.now()
    payment = again_on_database_error(
        partial(_claim_for_charge, payment_id, attempt=attempt, claimed_at=claimed_at), what=what
    )
    if payment is None:
        payment = again_on_database_error(partial(_load, payment_id), what=what)
        if payment.status != Status.PENDING:
            logger.info("payment %s is %s; nothing to charge", payment.id, payment.status)
        elif payment.reserved_until is not None and payment.reserved_until <= timezone.now():
            # A charge that comes late (a lost task swept up, a timeout's last retries): the
            # money would only go back. The reservation's expiry fails the payment.
            logger.warning(
                "payment %s not charged: its order's reservation ran out at %s",
                payment.id,
                payment.reserved_until,
            )
        else:
            logger.info(
                "payment %s: attempt %d is not due (%d made); another task has it",
                payment.id,
                attempt,
                payment.attempts,
            )
        return to_dto(payment)

    try:
        result = get_gateway().charge(
            payment_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            token=payment.payment_token,
            idempotency_key=payment.idempotency_key,
        )
    except GatewayError as exc:
        again_on_database_error(partial(_charge_unanswered, payment, exc), what=what)
        return to_dto(again_on_database_error(partial(_load, payment_id), what=what))

    settled = again_on_database_error(partial(_record_charge, payment, result), what=what)
    if settled:
        return to_dto(payment)
    # Not settled here (a webhook got there first, or the order expired): the row says how.
    return to_dto(again_on_database_error(partial(_load, payment_id), what=what))


def _record_charge(payment: Payment, result: ChargeResult) -> bool:
    """Record the gateway's answer to a charge, if the payment is still pending; whether it
    was. A charge that landed on a payment failed meanwhile (its order expired) is owed back.
    Safe to run again: each change is conditional on the state it leaves."""
    with transaction.atomic():
        if not result.succeeded:
            return _fail(
                payment,
                failure_code=_declined_code(result.failure_code),
                reason=result.failure_reason or "The payment was declined.",
                reference=result.reference,
                detail={"source": "charge"},
            )
        detail = {"source": "charge"}
        if _succeed(payment, reference=result.reference, detail=detail):
            return True
        _owe_refund(payment, Status.FAILED, reference=result.reference, detail=detail)
        return False


_CLAIM_FOR_CHARGE_SQL = f"""
    UPDATE {Payment._meta.db_table}
       SET attempts = %(attempt)s, updated_at = %(claimed_at)s
     WHERE id = %(id)s AND status = %(pending)s
       AND (reserved_until IS NULL OR reserved_until > %(now)s)
       AND (attempts = %(attempt)s - 1 OR (attempts = %(attempt)s AND updated_at = %(claimed_at)s))
    RETURNING *
"""


def _claim_for_charge(payment_id: UUID, *, attempt: int, claimed_at: datetime) -> Payment | None:
    """Take charge attempt ``attempt`` of a pending payment and return the payment; ``None``
    if it is not pending, its order's reservation has run out, or the attempt is not the next
    one (another task made it). One autocommit statement, so the count stays even if the
    worker dies. Run again after it committed (its answer lost with the connection), it
    finds its own mark, ``claimed_at``, and takes the attempt again without counting it twice.
    """
    params = {
        "now": db_value(Payment, "updated_at", timezone.now()),
        "claimed_at": db_value(Payment, "updated_at", claimed_at),
        "id": db_value(Payment, "id", payment_id),
        "pending": Status.PENDING,
        "attempt": attempt,
    }
    claimed = fetch_models(Payment, _CLAIM_FOR_CHARGE_SQL, params)
    return next(iter(claimed), None)


def _charge_unanswered(payment: Payment, exc: GatewayError) -> None:
    conf = payment_settings()
    attempt = payment.attempts
    timed_out = isinstance(exc, GatewayTimeout)
    logger.warning(
        "gateway %s on payment %s (attempt %d of %d)",
        "timed out" if timed_out else f"failed ({exc.__class__.__name__})",
        payment.id,
        attempt,
        conf.max_attempts,
    )
    with transaction.atomic():
        if not Payment.objects.filter(pk=payment.pk, status=Status.PENDING).exists():
            # Failed while this call was out (the order expired): its outcome is not known,
            # even if an earlier look at the gateway found nothing taken.
            _leave_unsettled(payment)
            return
        if attempt >= conf.max_attempts:
            if _fail(
                payment,
                failure_code=GATEWAY_UNAVAILABLE,
                reason=_GATEWAY_UNAVAILABLE_REASON,
                detail={"source": "charge", "attempts": attempt},
            ):
                _leave_unsettled(payment)
            return
        retry_at = timezone.now() + timedelta(seconds=retry_delay_seconds(attempt))
        if payment.reserved_until is not None and retry_at >= payment.reserved_until:
            # The retry would be refused (the units are back on sale by then): none is made.
            # The order's expiry fails the payment and asks the gateway about this attempt.
            _log(payment.id, Kind.CHARGE_TIMED_OUT, {"attempt": attempt, "retry_at": None})
            logger.warning(
                "payment %s not retried: its order's reservation runs out at %s, before the retry",
                payment.id,
                payment.reserved_until,
            )
            return
        _log(
            payment.id,
            Kind.CHARGE_TIMED_OUT,
            {"attempt": attempt, "retry_at": retry_at.isoformat()},
        )
        # In the same transaction as the log row: the retry exists if and only if it commits.
        schedule_task_once(
            name=f"payments: charge {payment.id} retry {attempt}",
            func=CHARGE_TASK,
            args=(str(payment.id), str(attempt + 1)),
            run_at=retry_at,
        )


def retry_delay_seconds(attempt: int) -> float:
    conf = payment_settings()
    return backoff_seconds(attempt, base=conf.retry_base_seconds, cap=conf.retry_max_seconds)


def _enqueue_charge(payment_id: UUID, attempt: int) -> None:
    queue_task(
        CHARGE_TASK, str(payment_id), str(attempt), name=f"charge payment {payment_id} ({attempt})"
    )


def payments_resume_stalled(*, older_than_seconds: float | None = None) -> int:
    """Queue again the gateway work nobody is doing: charges of pending payments, owed
    refunds, and failed payments' unsettled charges. Returns how many were queued.

    Each is queued after a commit; a crash in between, a lost broker message or a worker that
    died would leave it undone for ever. It counts as stalled when its payment has been
    untouched for ``PAYMENT_STALL_SECONDS``, or, for a charge never started, for
    ``PAYMENT_QUEUED_STALL_SECONDS`` (``older_than_seconds`` stands for both). Queueing again
    is safe: each task checks the payment's state first and calls the gateway with the same
    idempotency key, and a charge attempt is made by one task only.
    """
    conf = payment_settings()
    cutoff, queued_cutoff = stall_cutoffs(
        older_than_seconds=older_than_seconds,
        stall_seconds=conf.stall_seconds,
        queued_stall_seconds=conf.queued_stall_seconds,
    )
    return (
        _resume_charges(cutoff, queued_cutoff)
        + _resume_owed_refunds(cutoff)
        + _resume_settlements(cutoff)
    )


def _resume_charges(cutoff: datetime, queued_cutoff: datetime) -> int:
    """Pending payments with no retry scheduled, whose order's reservation has not run out
    (its expiry fails those), untouched since ``cutoff``, or since ``queued_cutoff`` if no
    charge attempt was ever made.

    A charge never started can be queued again early: its task, lost or still waiting, and
    the new one both make attempt 1, and only one of them can. A started one waits longer,
    since its worker may still be waiting on the gateway."""
    now = timezone.now()
    untouched = Payment.objects.filter(
        Q(updated_at__lt=cutoff) | Q(attempts=0, updated_at__lt=queued_cutoff),
        status=Status.PENDING,
    )
    if waiting := untouched.filter(reserved_until__lte=now).count():
        # Normally for a minute at most: the reservation expiry runs every minute.
        logger.warning(
            "%d pending payments are past their reservation's end, not charged: they wait for "
            "their order's expiry (is the reservation expiry schedule running?)",
            waiting,
        )
    # Oldest first: their reservations end first.
    stalled = untouched.exclude(reserved_until__lte=now).order_by("created_at", "id")
    retrying = scheduled_for(CHARGE_TASK)
    resumed = 0
    for payment_id, attempts in stalled.values_list("pk", "attempts"):
        if str(payment_id) in retrying:
            continue
        logger.warning("payment %s was stalled; charging it again", payment_id)
        _enqueue_charge(payment_id, attempts + 1)
        resumed += 1
    return resumed


def _resume_owed_refunds(cutoff: datetime) -> int:
    """Owed refunds whose task was lost or whose gateway call failed (a staff refund the
    gateway did not confirm, or whose worker died)."""
    owed = Payment.objects.filter(
        _REFUNDABLE, refund_owed_since__isnull=False, updated_at__lt=cutoff
    )
    payment_ids = list(owed.values_list("pk", flat=True))
    for payment_id in payment_ids:
        logger.warning("payment %s still owes its refund; refunding it again", payment_id)
        _enqueue_refund_owed(payment_id)
    return len(payment_ids)


def _resume_settlements(cutoff: datetime) -> int:
    """Failed payments whose unanswered charge the gateway has not accounted for yet."""
    unsettled = Payment.objects.filter(charge_unsettled_since__isnull=False, updated_at__lt=cutoff)
    payment_ids = list(unsettled.values_list("pk", flat=True))
    for payment_id in payment_ids:
        logger.warning("payment %s's charge is still unsettled; asking the gateway", payment_id)
        _enqueue_settle_charge(payment_id)
    return len(payment_ids)


# -- orders that ended without their money ---------------------------------------------------


@transactional
def payment_cancel_for_expired_order(
    *,
    cart_id: UUID,
    user_id: UUID | None = None,
    email: str = "",
    total: Decimal | None = None,
    currency: str | None = None,
) -> PaymentDTO:
    """The cart's order expired unpaid (``CartExpired``): its payment must not keep money.

    A pending payment fails with ``order_expired`` (publishes ``PaymentFailed``), so the charge
    task, which charges pending payments only, never charges it; a charge already in flight is
    refunded when it lands. A succeeded payment (charged after the reservation expired) is
    owed back: its refund is queued after commit. When the checkout has not reached payments
    yet, the cart's payment is recorded failed already (``order_expired``, ``PaymentFailed``),
    so the checkout, when it comes, finds it and charges nothing. Anything else is left alone,
    so running it twice is safe.
    """
    if _record_expired_before_start(
        cart_id=cart_id, user_id=user_id, email=email, total=total, currency=currency
    ):
        return to_dto(Payment.objects.get(cart_id=cart_id))
    payment = Payment.objects.select_for_update().get(cart_id=cart_id)
    detail = {"source": ORDER_EXPIRED}
    if payment.status == Status.PENDING:
        failed = _fail(
            payment, failure_code=ORDER_EXPIRED, reason=_ORDER_EXPIRED_REASON, detail=detail
        )
        if failed and payment.attempts > 0:
            # A charge was asked for and never answered (a timeout, a worker that died), or
            # is under way: if it went through, the money goes back.
            _leave_unsettled(payment)
    elif payment.status == Status.SUCCEEDED:
        _owe_refund(payment, Status.SUCCEEDED, reference=payment.gateway_reference, detail=detail)
    return to_dto(_load(payment.id))


def _record_expired_before_start(
    *,
    cart_id: UUID,
    user_id: UUID | None,
    email: str,
    total: Decimal | None,
    currency: str | None,
) -> bool:
    """Insert the cart's payment as failed with ``order_expired`` unless it has one; whether
    it did. The cart's unique payment row is what orders this with the checkout's
    ``payment_start_for_checkout``: whichever inserts first, the other finds its row (on
    PostgreSQL, after waiting for it to commit)."""
    payment = Payment(
        cart_id=cart_id,
        user_id=user_id,
        email=email,
        # Unknown (an event from before CartExpired carried them): the checkout fills them in.
        amount=total if total is not None else Decimal("0.00"),
        currency=currency or "",
        status=Status.FAILED,
        failure_code=ORDER_EXPIRED,
        gateway=get_gateway().name,
        payment_token="",
        idempotency_key=f"charge:{cart_id}:expired",
    )
    if not insert_unless_exists(payment, unique_fields=["cart_id"]):
        return False
    _log(
        payment.id,
        Kind.FAILED,
        {"source": ORDER_EXPIRED, "failure_code": ORDER_EXPIRED, "checkout": "not received yet"},
    )
    publish(
        PaymentFailed(
            payment_id=payment.id,
            cart_id=cart_id,
            amount=payment.amount,
            currency=payment.currency,
            email=email,
            failure_code=ORDER_EXPIRED,
            reason=_ORDER_EXPIRED_REASON,
        )
    )
    logger.info("cart %s expired before its payment started; none will be charged", cart_id)
    return True


def _leave_unsettled(payment: Payment) -> None:
    """The payment failed after a charge call without an answer: record that nobody knows
    whether money was taken, and ask the gateway after commit (``payment_settle_charge``).
    Not once the money's fate is known: a refund owed or made."""
    now = timezone.now()
    if Payment.objects.filter(
        pk=payment.pk,
        status=Status.FAILED,
        refund_owed_since__isnull=True,
        charge_unsettled_since__isnull=True,
    ).update(charge_unsettled_since=now, updated_at=now):
        transaction.on_commit(lambda: _enqueue_settle_charge(payment.id), robust=True)


def _enqueue_settle_charge(payment_id: UUID) -> None:
    queue_task(SETTLE_CHARGE_TASK, str(payment_id), name=f"settle charge of payment {payment_id}")


def payment_settle_charge(*, payment_id: UUID) -> PaymentDTO:
    """Find out what became of the unanswered charge of a failed payment (the task's body).

    Runs outside any transaction: the gateway is asked about the charge's key (it charges
    nothing). Taken: the money is owed back (``refund_owed_since``, the refund queued, as for a
    charge that lands after its order ended). Declined: nothing is owed. Not taken: nothing is
    owed once ``PAYMENT_STALL_SECONDS`` have passed since the payment failed; before that a
    charge call may still be on its way to the gateway, so the stalled-payments sweep asks
    again later. When the gateway cannot say, the sweep asks again too. Does nothing for a
    payment that is not unsettled.
    """
    payment = _load(payment_id)
    if payment.charge_unsettled_since is None:
        return to_dto(payment)
    try:
        result = get_gateway().charge_outcome(
            payment_id=payment.id, idempotency_key=payment.idempotency_key
        )
    except GatewayError as exc:
        logger.warning("gateway cannot say what became of payment %s's charge: %s", payment_id, exc)
        Payment.objects.filter(pk=payment_id).update(updated_at=timezone.now())
        return to_dto(_load(payment_id))
    in_flight_until = payment.charge_unsettled_since + timedelta(
        seconds=payment_settings().stall_seconds
    )
    if result is None and timezone.now() < in_flight_until:
        logger.info("payment %s's charge not taken so far; asking again later", payment_id)
        return to_dto(payment)
    taken = result is not None and result.succeeded
    with transaction.atomic():
        settled = Payment.objects.filter(
            pk=payment_id, charge_unsettled_since__isnull=False
        ).update(charge_unsettled_since=None, updated_at=timezone.now())
        if settled:
            outcome = "taken" if taken else ("declined" if result is not None else "not taken")
            _log(payment_id, Kind.CHARGE_SETTLED, {"outcome": outcome})
            if taken:
                assert result is not None
                detail = {"source": "settle_charge"}
                _owe_refund(payment, Status.FAILED, reference=result.reference, detail=detail)
    return to_dto(_load(payment_id))


def payment_refund_owed(*, payment_id: UUID) -> PaymentDTO:
    """Make an owed refund (the django-q2 task's body): a charge whose order did not go
    through, or a staff refund whose gateway call was not confirmed.

    Runs outside any transaction: the gateway is called with the key ``refund:<payment id>``
    (the same as a staff refund's, so the money moves once), then the refund is recorded if it
    is still owed. Publishes ``PaymentRefunded``. Does nothing unless a refund is owed and not
    made. When the gateway does not answer, the stalled-payments sweep queues it again; when it
    refuses the refund for good, the debt is cleared (a ``refund_declined`` log row: a person
    must settle it with the gateway) so the sweep does not ask for ever.
    """
    payment = _load(payment_id)
    if (
        payment.refund_owed_since is None
        or not Payment.objects.filter(_REFUNDABLE, pk=payment_id).exists()
    ):
        logger.info("payment %s is %s; no refund owed", payment.id, payment.status)
        return to_dto(payment)
    try:
        result = _gateway_refund(payment)
    except GatewayError as exc:
        logger.warning("refund of payment %s not made (%s); will try again", payment.id, exc)
        Payment.objects.filter(pk=payment_id).update(updated_at=timezone.now())
        return to_dto(_load(payment_id))
    with transaction.atomic():
        if result.succeeded:
            _refund(payment, reference=result.reference, detail={"source": "refund_owed"})
        else:
            _refund_declined(payment, result, detail={"source": "refund_owed"})
    return to_dto(_load(payment_id))


def _enqueue_refund_owed(payment_id: UUID) -> None:
    queue_task(REFUND_OWED_TASK, str(payment_id), name=f"refund payment {payment_id}")


# -- refunds -----------------------------------------------------------------------------------


def payment_refund(
    *, payment_id: UUID, actor_id: UUID | None = None, idempotency_key: str = ""
) -> RefundDTO:
    """Staff: give a succeeded payment back in full. Publishes ``PaymentRefunded``. Returns
    the payment, and whether the call only repeated a request that had asked for it.

    First the refund is recorded as owed (``refund_owed_since``, with the actor and key) in a
    short transaction of its own, committed before the gateway is called, so a gateway that
    does not answer, or a worker that dies after the call, leaves a debt that the
    stalled-payments sweep settles (``payment_refund_owed``, same gateway key
    ``refund:<payment id>``, so the money moves once). The gateway is called outside any
    transaction; the refund is then recorded if it is still owed.

    Raises ``PaymentNotRefundable`` (409) unless the payment is succeeded, except that a repeat
    of a request that asked for its refund (same ``idempotency_key``, same actor; the refund
    may have been made by another's request or the sweep) answers as before;
    ``RefundKeyReused`` (409 ``idempotency_key_reused``) when the actor's key is already used
    on another payment (nothing changed in these cases). ``GatewayUnavailable`` (503) when the
    gateway did not answer: the refund stays owed and is made automatically (repeating the
    request is safe). ``RefundDeclined`` (409 ``refund_declined``) when the gateway refused it
    for good: the debt is cleared again, the payment stays succeeded, nothing is published.
    """
    payment = _load(payment_id)
    if idempotency_key and _key_used_elsewhere(
        payment_id, actor_id=actor_id, idempotency_key=idempotency_key
    ):
        raise RefundKeyReused()
    actor = str(actor_id) if actor_id else None
    if (
        payment.status == Status.REFUNDED
        and idempotency_key
        and _asked_to_refund(payment, actor=actor, idempotency_key=idempotency_key)
    ):
        return RefundDTO(payment=to_dto(payment), repeated=True)
    detail = {"source": "staff", "actor_id": actor, "idempotency_key": idempotency_key}
    # The locked row from here: a charge that landed since the read above brought its reference.
    payment = _owe_staff_refund(
        payment, actor_id=actor_id, idempotency_key=idempotency_key, detail=detail
    )
    try:
        result = _gateway_refund(payment)
    except GatewayError as exc:
        logger.warning("gateway missed the refund of payment %s (owed now): %s", payment.id, exc)
        raise GatewayUnavailable() from exc
    if result.succeeded:
        with transaction.atomic():
            _refund(payment, reference=result.reference, detail=detail)
        return RefundDTO(payment=to_dto(_load(payment_id)), repeated=False)
    with transaction.atomic():
        _refund_declined(payment, result, detail=detail)
    # Declined, unless it was refunded meanwhile (a webhook): the row says which. A decline
    # that another request (or the sweep) recorded first is still this request's answer.
    current = _load(payment_id)
    if current.status != Status.REFUNDED:
        reason = f" ({result.failure_reason})" if result.failure_reason else ""
        raise RefundDeclined(f"The payment provider declined the refund{reason}; nothing changed.")
    return RefundDTO(payment=to_dto(current), repeated=False)


def _asked_to_refund(payment: Payment, *, actor: str | None, idempotency_key: str) -> bool:
    """Whether this staff member asked for this payment's refund with this key: the last to
    ask (on the row), or one whose request went unconfirmed and was completed by another's
    request or by the sweep (the payment log keeps every request's actor and key)."""
    if (
        payment.refund_idempotency_key == idempotency_key
        and (str(payment.refunded_by) if payment.refunded_by else None) == actor
    ):
        return True
    return PaymentEvent.objects.filter(
        payment_id=payment.pk,
        kind=Kind.REFUND_OWED,
        detail__actor_id=actor,
        detail__idempotency_key=idempotency_key,
    ).exists()


def _key_used_elsewhere(payment_id: UUID, *, actor_id: UUID | None, idempotency_key: str) -> bool:
    """Whether the actor's refund key is already the key of another payment's refund."""
    return (
        Payment.objects.filter(refunded_by=actor_id, refund_idempotency_key=idempotency_key)
        .exclude(pk=payment_id)
        .exists()
    )


def _owe_staff_refund(
    payment: Payment, *, actor_id: UUID | None, idempotency_key: str, detail: dict[str, Any]
) -> Payment:
    """Record, and commit, that the succeeded ``payment`` owes its refund, before the gateway is
    called, and return the row as it was locked. Raises ``PaymentNotRefundable`` if it is not
    succeeded (refunded meanwhile, or still pending)."""
    with transaction.atomic():
        if idempotency_key:
            # Checked before, without a lock; now again, serialised per actor and key: two
            # payments refunded at once with one key would both have passed.
            lock_name(f"payments.refund_key:{actor_id}:{idempotency_key}")
            if _key_used_elsewhere(payment.pk, actor_id=actor_id, idempotency_key=idempotency_key):
                raise RefundKeyReused()
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.status != Status.SUCCEEDED:
            raise PaymentNotRefundable(
                f"Only a succeeded payment can be refunded; this one is {locked.status}."
            )
        locked.refund_owed_since = locked.refund_owed_since or timezone.now()
        locked.refunded_by = actor_id
        locked.refund_idempotency_key = idempotency_key
        locked.save(
            update_fields=[
                "refund_owed_since",
                "refunded_by",
                "refund_idempotency_key",
                "updated_at",
            ]
        )
        _log(payment.pk, Kind.REFUND_OWED, detail)
    return locked


def _gateway_refund(payment: Payment) -> RefundResult:
    # One key per payment: a staff refund and an owed refund racing move the money once.
    return get_gateway().refund(
        payment_id=payment.id,
        reference=payment.gateway_reference,
        amount=payment.amount,
        currency=payment.currency,
        idempotency_key=f"refund:{payment.id}",
    )


# -- webhooks ----------------------------------------------------------------------------------


def payment_apply_webhook(*, body: bytes, headers: Mapping[str, str]) -> WebhookOutcomeDTO:
    """Apply a gateway callback once. May publish ``PaymentSucceeded``, ``PaymentFailed`` or
    ``PaymentRefunded``.

    The signature and its age are checked before anything else (``WebhookRejected``, 400:
    nothing is read or written). Each gateway event id is recorded with the payment in the
    transaction that applies it, so a redelivered callback is a no-op (``duplicate``).
    An event that does not fit the payment's state *yet* (``charge.refunded`` while the charge
    is not reported: the payment is pending, or failed without a refund owed) is not recorded:
    ``WebhookOutOfOrder`` (409) makes the gateway send it again, after the charge has landed.
    Events that can never apply (e.g. ``charge.succeeded`` for a refunded payment), events the
    shop does not act on, and events about unknown payments are ``ignored`` (recorded, except
    for an unknown payment).
    """
    try:
        event = get_gateway().verify_and_parse_webhook(body=body, headers=headers)
    except InvalidWebhook as exc:
        logger.warning("webhook refused: %s", exc.detail)
        raise WebhookRejected(exc.code, exc.detail) from exc

    with transaction.atomic():
        payments = Payment.objects.select_for_update()
        if event.payment_id is not None:
            payment = payments.filter(pk=event.payment_id).first()
        elif event.reference:
            payment = payments.filter(gateway_reference=event.reference).first()
        else:
            payment = None
        if payment is None:
            logger.warning("webhook %s (%s) names no known payment", event.id, event.type)
            return WebhookOutcomeDTO(gateway_event_id=event.id, payment_id=None, result="ignored")
        duplicate = WebhookOutcomeDTO(
            gateway_event_id=event.id, payment_id=payment.id, result="duplicate"
        )
        if PaymentEvent.objects.filter(gateway_event_id=event.id).exists():
            return duplicate
        # A refund made by hand, at the gateway, of money whose owed refund it declined.
        settled_by_hand = event.type == "charge.refunded" and _left_to_a_person(payment)
        if _may_fit_later(payment, event.type, settled_by_hand=settled_by_hand):
            logger.info(
                "webhook %s (%s) is early for payment %s (%s): not recorded, to be sent again",
                event.id,
                event.type,
                payment.id,
                payment.status,
            )
            raise WebhookOutOfOrder()
        if not _record_webhook(payment, event.id, event.type, event.reference):
            return duplicate

        detail = {"source": "webhook", "gateway_event_id": event.id}
        applied = False
        if event.type == "charge.succeeded":
            applied = _succeed(payment, reference=event.reference, detail=detail)
            if not applied and payment.status == Status.FAILED:
                # We gave up (gateway_unavailable) or the order expired, but the gateway did
                # charge: money to give back.
                applied = _owe_refund(
                    payment, Status.FAILED, reference=event.reference, detail=detail
                )
        elif event.type == "charge.failed":
            applied = _fail(
                payment,
                failure_code=_declined_code(event.failure_code),
                reason="The payment was declined.",
                reference=event.reference,
                detail=detail,
            )
        elif event.type == "charge.refunded":
            applied = _refund(
                payment, reference=event.reference, detail=detail, settled_by_hand=settled_by_hand
            )
    return WebhookOutcomeDTO(
        gateway_event_id=event.id,
        payment_id=payment.id,
        result="applied" if applied else "ignored",
    )


def _declined_code(gateway_code: str) -> str:
    """The failure code of a charge the gateway declined: its own, cut to the column (a longer
    one would fail the write and leave the payment pending), unless it has none or it spells
    one of the shop's (an order the cart saw expire would then never end)."""
    code = gateway_code[: Payment._meta.get_field("failure_code").max_length]
    if not code or code in _SHOP_FAILURE_CODES:
        return PAYMENT_DECLINED
    return code


def _may_fit_later(payment: Payment, event_type: str, *, settled_by_hand: bool) -> bool:
    """Whether the event does not fit the payment now but may once an earlier event lands: a
    refund of a charge not reported yet (it may still arrive, as ``charge.succeeded`` or as
    the charge task's answer, even after the payment failed)."""
    if event_type != "charge.refunded":
        return False
    return payment.status == Status.PENDING or (
        payment.status == Status.FAILED
        and payment.refund_owed_since is None
        and not settled_by_hand
    )


def _left_to_a_person(payment: Payment) -> bool:
    """A failed payment whose charge took money anyway, and whose refund the gateway declined
    for good: a person refunds it at the gateway, whose ``charge.refunded`` then fits."""
    return (
        payment.status == Status.FAILED
        and payment.refund_owed_since is None
        and PaymentEvent.objects.filter(payment=payment, kind=Kind.REFUND_DECLINED).exists()
    )


def _record_webhook(payment: Payment, gateway_event_id: str, event_type: str, ref: str) -> bool:
    """Record the gateway event; False if it is recorded already (applied concurrently)."""
    try:
        with transaction.atomic():
            PaymentEvent.objects.create(
                payment=payment,
                kind=Kind.WEBHOOK,
                gateway_event_id=gateway_event_id,
                detail={"type": event_type, "reference": ref},
            )
    except IntegrityError:  # the same event, applied concurrently for another payment row
        return False
    return True


# -- state changes (inside the caller's transaction; each only from the state it leaves) ------


def _log(payment_id: UUID, kind: str, detail: dict[str, Any]) -> None:
    """Append a row to the payment's event log."""
    insert_row(PaymentEvent(payment_id=payment_id, kind=kind, detail=detail))


def _succeed(payment: Payment, *, reference: str, detail: dict[str, Any]) -> bool:
    changes = {"status": Status.SUCCEEDED, "gateway_reference": reference}
    if not update_if(payment, {**changes, "updated_at": timezone.now()}, status=Status.PENDING):
        return False
    _log(payment.pk, Kind.SUCCEEDED, detail)
    publish(
        PaymentSucceeded(
            payment_id=payment.id,
            cart_id=payment.cart_id,
            amount=payment.amount,
            currency=payment.currency,
            email=payment.email,
        )
    )
    logger.info("payment %s succeeded", payment.id)
    return True


def _fail(
    payment: Payment,
    *,
    failure_code: str,
    reason: str,
    detail: dict[str, Any],
    reference: str = "",
) -> bool:
    changes = {
        "status": Status.FAILED,
        "failure_code": failure_code,
        "gateway_reference": reference,
    }
    if not update_if(payment, {**changes, "updated_at": timezone.now()}, status=Status.PENDING):
        return False
    _log(payment.pk, Kind.FAILED, {**detail, "failure_code": failure_code})
    publish(
        PaymentFailed(
            payment_id=payment.id,
            cart_id=payment.cart_id,
            amount=payment.amount,
            currency=payment.currency,
            email=payment.email,
            failure_code=failure_code,
            reason=reason,
        )
    )
    logger.info("payment %s failed: %s", payment.id, failure_code)
    return True


def _refund(
    payment: Payment, *, reference: str, detail: dict[str, Any], settled_by_hand: bool = False
) -> bool:
    """``settled_by_hand``: a failed payment with no refund owed any more (the gateway declined
    it) is refunded too: a person made the refund at the gateway."""
    # A staff refund's actor and key were recorded with its debt (``_owe_staff_refund``).
    refundable = (_REFUNDABLE | Q(status=Status.FAILED)) if settled_by_hand else _REFUNDABLE
    changed = Payment.objects.filter(refundable, pk=payment.pk).update(
        status=Status.REFUNDED, refund_reference=reference, updated_at=timezone.now()
    )
    if changed:
        _log(payment.pk, Kind.REFUNDED, detail)
        publish(
            PaymentRefunded(
                payment_id=payment.id,
                cart_id=payment.cart_id,
                amount=payment.amount,
                currency=payment.currency,
                email=payment.email,
            )
        )
        logger.info("payment %s refunded", payment.id)
    return bool(changed)


def _owe_refund(payment: Payment, status: str, *, reference: str, detail: dict[str, Any]) -> bool:
    """Money was taken for an order that did not go through: record the debt, and queue the
    refund after commit. Only once, and only while the payment is ``status``. The charge is
    settled then (its money is known to be taken): a refund the gateway later declines for
    good is not owed again by ``payment_settle_charge``."""
    now = timezone.now()
    changed = Payment.objects.filter(
        pk=payment.pk, status=status, refund_owed_since__isnull=True
    ).update(
        gateway_reference=reference,
        refund_owed_since=now,
        charge_unsettled_since=None,
        updated_at=now,
    )
    if changed:
        _log(payment.pk, Kind.REFUND_OWED, {**detail, "reference": reference})
        logger.warning("payment %s took money for an order that ended: refunding it", payment.id)
        transaction.on_commit(lambda: _enqueue_refund_owed(payment.id), robust=True)
    return bool(changed)


def _refund_declined(payment: Payment, result: RefundResult, *, detail: dict[str, Any]) -> bool:
    """The gateway refused the owed refund for good (the same key would be refused again):
    clear the debt so the sweep stops asking, and log it for a person to settle. Publishes
    nothing; the payment keeps its status. False if it was refunded (or cleared) meanwhile."""
    changed = Payment.objects.filter(
        _REFUNDABLE, pk=payment.pk, refund_owed_since__isnull=False
    ).update(
        refund_owed_since=None,
        refunded_by=None,
        refund_idempotency_key="",
        updated_at=timezone.now(),
    )
    if changed:
        _log(
            payment.pk,
            Kind.REFUND_DECLINED,
            {**detail, "failure_code": result.failure_code or "refund_declined"},
        )
        logger.error(
            "gateway declined the refund of payment %s (%s): settle it by hand",
            payment.id,
            result.failure_code or "refund_declined",
        )
    return bool(changed)


def _load(payment_id: UUID) -> Payment:
    try:
        return Payment.objects.get(pk=payment_id)
    except Payment.DoesNotExist:
        raise PaymentNotFound() from None
