"""The payment gateway interface. ``PAYMENT_GATEWAY`` (a dotted path) picks the implementation.

A gateway is called *outside* any database transaction, always with an idempotency key: the
same key asks for the same operation, so a retry after a timeout, or a second worker running
the same task, never moves money twice. Implementations must never log the token.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, cast
from uuid import UUID

from django.utils.module_loading import import_string

from apps.payments.conf import payment_settings


class GatewayError(Exception):
    """The gateway could not be reached or did not answer usably: the outcome is unknown."""


class GatewayTimeout(GatewayError):
    """The gateway did not answer in time. Retry with the same idempotency key."""


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or body is not acceptable. ``code`` says which."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    succeeded: bool
    reference: str  # the gateway's id for the charge ("" when declined without one)
    failure_code: str = ""  # e.g. "payment_declined"
    failure_reason: str = ""  # readable, safe to show the customer


@dataclass(frozen=True, slots=True)
class RefundResult:
    """The gateway's answer to a refund. A refusal for good (the charge cannot be refunded: it
    was disputed, or is too old) is a result with ``succeeded=False``, not an exception; a
    ``GatewayError`` means the outcome is unknown, and the same key is tried again."""

    reference: str  # the gateway's id for the refund ("" when refused)
    succeeded: bool = True
    failure_code: str = ""  # e.g. "refund_declined"
    failure_reason: str = ""  # readable, for staff


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified gateway callback, in our terms."""

    id: str  # the gateway's event id: each is applied once
    type: str  # "charge.succeeded" | "charge.failed" | "charge.refunded" (others are ignored)
    payment_id: UUID | None
    reference: str
    failure_code: str = ""


class PaymentGateway(Protocol):
    name: str

    def charge(
        self, *, payment_id: UUID, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge ``token``. Raises ``GatewayError``/``GatewayTimeout``: outcome unknown."""
        ...

    def refund(
        self,
        *,
        payment_id: UUID,
        reference: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
    ) -> RefundResult:
        """Give back a charge in full. A refusal for good is ``RefundResult(succeeded=False)``;
        raises ``GatewayError``/``GatewayTimeout`` when the outcome is unknown."""
        ...

    def charge_outcome(self, *, payment_id: UUID, idempotency_key: str) -> ChargeResult | None:
        """What became of the charge asked with ``idempotency_key``: its result, or ``None``
        when the gateway never took it (nothing was charged). Charges nothing. Raises
        ``GatewayError`` when the gateway cannot say now."""
        ...

    def verify_and_parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Check the signature (and its age) before anything else. Raises ``InvalidWebhook``."""
        ...


def get_gateway() -> PaymentGateway:
    return cast(PaymentGateway, import_string(payment_settings().gateway)())
