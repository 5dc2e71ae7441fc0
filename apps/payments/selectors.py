"""Reads the API serves. Who sees what: staff see every payment; a signed-in shopper sees the
payments of carts that were theirs at checkout; nobody else sees any."""

from uuid import UUID

from django.db.models import QuerySet

from apps.payments.models import Payment
from apps.payments.services import PaymentDTO, PaymentNotFound, to_dto


def payment_list_visible(
    *, viewer_id: UUID, viewer_is_staff: bool, cart_id: UUID | None = None
) -> QuerySet[Payment]:
    payments = Payment.objects.all()
    if not viewer_is_staff:
        payments = payments.filter(user_id=viewer_id)
    if cart_id is not None:
        payments = payments.filter(cart_id=cart_id)
    return payments.order_by("-created_at", "id")


def payment_get_visible(*, payment_id: UUID, viewer_id: UUID, viewer_is_staff: bool) -> PaymentDTO:
    """Raises ``PaymentNotFound`` also for someone else's payment: its existence is not told."""
    payment = payment_list_visible(viewer_id=viewer_id, viewer_is_staff=viewer_is_staff).filter(
        pk=payment_id
    )
    found = payment.first()
    if found is None:
        raise PaymentNotFound()
    return to_dto(found)
