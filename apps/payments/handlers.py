"""Reactions to other apps' events. Thin: translate the event, call a service."""

from apps.cart.events import CartCheckedOut, CartExpired
from apps.payments import services


def on_cart_checked_out(event: CartCheckedOut) -> None:
    """Stock is reserved: start the cart's payment (idempotent per cart)."""
    services.payment_start_for_checkout(
        cart_id=event.cart_id,
        checkout_event_id=event.event_id,
        user_id=event.user_id,
        email=event.email,
        amount=event.total,
        currency=event.currency,
        payment_token=event.payment_token,
        reserved_until=event.reserved_until,
    )


def on_cart_expired(event: CartExpired) -> None:
    """The order expired unpaid: a pending payment must never charge, a charge that landed
    anyway is refunded, and a payment not started yet never starts (all conditional, so safe
    to run twice)."""
    services.payment_cancel_for_expired_order(
        cart_id=event.cart_id,
        user_id=event.user_id,
        email=event.email,
        total=event.total,
        currency=event.currency,
    )
