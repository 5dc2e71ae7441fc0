"""Reads the cart API serves."""

from uuid import UUID

from apps.cart.models import Cart


def cart_with_lines(*, cart_id: UUID) -> Cart | None:
    """The cart and its lines, in two queries (the owner is only its id: no join)."""
    return Cart.objects.prefetch_related("lines").filter(pk=cart_id).first()
