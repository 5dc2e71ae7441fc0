"""Reads the cart API serves."""

from uuid import UUID

from apps.cart.models import Cart, CartLine
from ecommerce.common.db import db_value, fetch_models

# Hand-written: a storefront polls its cart until the order is paid, every change to a cart
# reads its lines, and compiling the ORM queries cost several times what running them did.
_CART_SQL = f"SELECT * FROM {Cart._meta.db_table} WHERE id = %s"
_LINES_SQL = f"SELECT * FROM {CartLine._meta.db_table} WHERE cart_id = %s ORDER BY created_at, id"


def cart_with_lines(*, cart_id: UUID) -> tuple[Cart, list[CartLine]] | None:
    """The cart and its lines (in ``CartLine``'s order), in two queries; the owner is only
    its id: no join."""
    pk = db_value(Cart, "id", cart_id)
    cart = next(iter(fetch_models(Cart, _CART_SQL, [pk])), None)
    if cart is None:
        return None
    return cart, cart_lines(cart_id=cart_id)


def cart_lines(*, cart_id: UUID) -> list[CartLine]:
    """The cart's lines in ``CartLine``'s order: what every change to a cart starts from."""
    return fetch_models(CartLine, _LINES_SQL, [db_value(Cart, "id", cart_id)])
