"""django-q2 tasks. Arguments are plain strings: they travel through the broker.

When the database fails under a gateway task (a connection terminated, a server restarting),
it is run again at once rather than left minutes for the stalled-payments sweep. The refund
and the settlement are run again whole: each checks the payment's state first and asks the
gateway under the payment's idempotency key, so the money moves once. The charge retries its
own steps (``services.payment_charge``).
"""

from uuid import UUID

from apps.payments import services
from ecommerce.common.retry import again_on_database_error


def charge_payment(payment_id: str, attempt: str | None = None) -> str:
    """Make charge attempt ``attempt`` of one payment at the gateway (attempt 1 queued after
    checkout; the next scheduled after a timeout). Tasks queued before attempts were
    numbered carry none and make the next one."""
    number = int(attempt) if attempt is not None else None
    return services.payment_charge(payment_id=UUID(payment_id), attempt=number).status


def resume_stalled_payments() -> int:
    """Scheduled (every minute): queue again the charges, owed refunds and settlements
    nobody is working on."""
    return services.payments_resume_stalled()


def refund_owed_payment(payment_id: str) -> str:
    """Refund a charge whose order did not go through (queued when the debt is recorded)."""
    return again_on_database_error(
        lambda: services.payment_refund_owed(payment_id=UUID(payment_id)),
        what=f"refunding payment {payment_id}",
    ).status


def settle_charge(payment_id: str) -> str:
    """Ask the gateway what became of a failed payment's unanswered charge (queued when it
    failed so), and owe it back if it was taken."""
    return again_on_database_error(
        lambda: services.payment_settle_charge(payment_id=UUID(payment_id)),
        what=f"settling payment {payment_id}'s charge",
    ).status
