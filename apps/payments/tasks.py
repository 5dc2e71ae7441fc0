"""django-q2 tasks. Arguments are plain strings: they travel through the broker."""

from uuid import UUID

from apps.payments import services


def charge_payment(payment_id: str) -> str:
    """Charge one payment at the gateway (queued after checkout; scheduled again on timeouts)."""
    return services.payment_charge(payment_id=UUID(payment_id)).status
