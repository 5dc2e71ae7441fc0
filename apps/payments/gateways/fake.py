"""The built-in fake gateway: decides by token, keeps its books in the database.

- ``tok_ok`` succeeds; ``tok_declined`` is declined (``payment_declined``);
- ``tok_flaky`` times out on the first two calls with an idempotency key, then succeeds;
- any other token is declined (``invalid_payment_token``).

Like a real gateway it answers a repeated idempotency key with the first outcome without
charging again, so ``FakeGatewayRequest`` holds at most one charge per key. Webhooks are
signed as in ``apps.payments.gateways.signing`` with ``PAYMENT_WEBHOOK_SECRET``.
"""

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from django.db import transaction

from apps.payments.conf import payment_settings
from apps.payments.gateways import (
    ChargeResult,
    GatewayTimeout,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
    signing,
)
from apps.payments.models import FakeGatewayRequest
from ecommerce.common.db import insert_unless_exists
from ecommerce.common.retry import again_on_database_error
from ecommerce.common.text import is_text

TOKEN_OK = "tok_ok"
TOKEN_DECLINED = "tok_declined"
TOKEN_FLAKY = "tok_flaky"
FLAKY_TIMEOUTS = 2

Outcome = FakeGatewayRequest.Outcome
Operation = FakeGatewayRequest.Operation

_REASONS = {
    "payment_declined": "Your card was declined.",
    "invalid_payment_token": "The payment method is not valid.",
}


class FakeGateway:
    name = "fake"

    def charge(
        self, *, payment_id: UUID, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> ChargeResult:
        def decide(request: FakeGatewayRequest) -> None:
            if token == TOKEN_FLAKY and request.calls <= FLAKY_TIMEOUTS:
                return  # stays pending: this call times out
            if token in (TOKEN_OK, TOKEN_FLAKY):
                request.outcome = Outcome.SUCCEEDED
                request.reference = f"fake_ch_{uuid4().hex}"
            else:
                request.outcome = Outcome.DECLINED
                request.failure_code = (
                    "payment_declined" if token == TOKEN_DECLINED else "invalid_payment_token"
                )

        request = _call(idempotency_key, Operation.CHARGE, payment_id, amount, currency, decide)
        # Raised once the call is on the books, so it counts as a real gateway would count it.
        if request.outcome == Outcome.PENDING:
            raise GatewayTimeout("the fake gateway timed out")
        return _charge_result(request)

    def charge_outcome(self, *, payment_id: UUID, idempotency_key: str) -> ChargeResult | None:
        request = FakeGatewayRequest.objects.filter(
            operation=Operation.CHARGE, idempotency_key=idempotency_key
        ).first()
        if request is None or request.outcome == Outcome.PENDING:
            return None  # never taken, or only timed out: nothing was charged
        return _charge_result(request)

    def refund(
        self,
        *,
        payment_id: UUID,
        reference: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
    ) -> RefundResult:
        def decide(request: FakeGatewayRequest) -> None:
            request.outcome = Outcome.SUCCEEDED
            request.reference = f"fake_re_{uuid4().hex}"

        request = _call(idempotency_key, Operation.REFUND, payment_id, amount, currency, decide)
        return RefundResult(reference=request.reference)

    def verify_and_parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        conf = payment_settings()
        signing.verify(
            body,
            headers.get(signing.HEADER),
            secret=conf.webhook_secret,
            tolerance=conf.webhook_tolerance_seconds,
        )
        return parse_webhook_body(body)


def parse_webhook_body(body: bytes) -> WebhookEvent:
    """Parse ``{"id": "evt_1", "type": "charge.succeeded", "data": {...}}``.

    ``data`` holds ``payment_id``, ``reference`` and, for a failure, ``failure_code``. Any
    other shape is ``InvalidWebhook`` (400), signed or not: a body nested too deeply, a text
    that is not text (a lone surrogate, a NUL, which PostgreSQL cannot store) or longer than
    its column (cut short, two ids would be one).
    """
    try:
        message = json.loads(body)
        data: dict[str, Any] = message.get("data") or {}
        event_type = _text(message["type"], max_length=255)
        reference = _text(data.get("reference") or "", max_length=255)
        if event_type == "charge.succeeded" and not reference:
            raise ValueError("a succeeded charge names its reference")
        payment_id = data.get("payment_id")
        return WebhookEvent(
            id=_text(message["id"], max_length=255, required=True),
            type=event_type,
            payment_id=UUID(payment_id) if payment_id else None,
            reference=reference,
            # Not an id: a long code is cut to its column rather than the event refused.
            failure_code=_text(data.get("failure_code") or "", max_length=10_000)[:50],
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise InvalidWebhook("invalid_webhook", "The webhook body is not a valid event.") from exc


def _text(value: Any, *, max_length: int, required: bool = False) -> str:
    """``value`` if it is a string the shop can store and repeat; else ``ValueError``."""
    if not isinstance(value, str) or (required and not value):
        raise ValueError("not a string")
    if len(value) > max_length or "\x00" in value or not is_text(value):
        raise ValueError("too long, or holds a NUL or a lone surrogate")
    return value


def _call(
    key: str,
    operation: str,
    payment_id: UUID,
    amount: Decimal,
    currency: str,
    decide: Callable[[FakeGatewayRequest], None],
) -> FakeGatewayRequest:
    """The books for ``key`` after one more call. ``decide`` sets the outcome of a request
    that is still pending; a settled one keeps its first outcome.

    The books share the shop's database: when its connection is cut under the call, the call
    is made again on a new one, as a real gateway's client does over a dropped connection
    (the key keeps it to one charge). The shop then sees only how the gateway answered. A
    call whose answer the cut lost counts twice in ``calls``, as a real gateway counts a
    retried request (so with ``tok_flaky`` an earlier call of the shop's may succeed).
    """

    def book() -> FakeGatewayRequest:
        # A new key, nearly every call, is one INSERT. A repeated key is locked first, so
        # two calls with it (two workers) are answered one after the other.
        request = FakeGatewayRequest(
            idempotency_key=key,
            operation=operation,
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            calls=1,
        )
        decide(request)
        if insert_unless_exists(request, unique_fields=["idempotency_key"]):
            return request
        with transaction.atomic():
            request = FakeGatewayRequest.objects.select_for_update().get(idempotency_key=key)
            request.calls += 1
            if request.outcome == Outcome.PENDING:
                decide(request)
            request.save(update_fields=["calls", "outcome", "reference", "failure_code"])
        return request

    return again_on_database_error(book, what=f"fake gateway: {operation} {key}")


def _charge_result(request: FakeGatewayRequest) -> ChargeResult:
    """The answer to a charge the books decided."""
    return ChargeResult(
        succeeded=request.outcome == Outcome.SUCCEEDED,
        reference=request.reference,
        failure_code=request.failure_code,
        failure_reason=_REASONS.get(request.failure_code, ""),
    )
