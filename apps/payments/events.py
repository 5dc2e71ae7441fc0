"""The events Payments publishes. Public: other apps subscribe to them.

Every event is about one payment (aggregate type ``payments``); each names the cart it pays.
"""

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from ecommerce.bus import Event


@dataclass(frozen=True, kw_only=True)
class PaymentSucceeded(Event, event_type="payments.PaymentSucceeded", aggregate="payment_id"):
    payment_id: UUID
    cart_id: UUID
    amount: Decimal
    currency: str
    email: str


@dataclass(frozen=True, kw_only=True)
class PaymentFailed(Event, event_type="payments.PaymentFailed", aggregate="payment_id"):
    payment_id: UUID
    cart_id: UUID
    amount: Decimal
    currency: str
    email: str
    failure_code: str  # e.g. "payment_declined", "gateway_unavailable"
    reason: str  # readable, safe to show the customer


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Event, event_type="payments.PaymentRefunded", aggregate="payment_id"):
    payment_id: UUID
    cart_id: UUID
    amount: Decimal
    currency: str
    email: str
