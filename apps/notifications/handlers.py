"""Reactions to other apps' events. Thin: translate the event, call a service.

Each is safe to run twice: a notification is unique per (event, kind, channel, recipient),
and a product alert's subscriptions are fulfilled in the transaction that notifies them.

One source per outcome, so a customer gets one message each: the order's own events
(``CartPaid``, ``CartPaymentFailed``) rather than the payment's, because they name the
signed-in user (for the in-app message), and they are published only when the order really
changed: a payment that lands after the order expired sends no receipt for an order the shop
gave up. Refunds have no order event: ``PaymentRefunded``, whose in-app message goes to the
user the order's earlier notifications went to.
"""

from apps.cart.events import (
    PRODUCT_DISCONTINUED,
    CartCheckedOut,
    CartExpired,
    CartItemRemoved,
    CartPaid,
    CartPaymentFailed,
)
from apps.inventory.events import BackInStock
from apps.notifications import services
from apps.payments.events import PaymentRefunded
from apps.products.events import ProductPriceChanged


def on_cart_checked_out(event: CartCheckedOut) -> None:
    services.notify_order_received(
        source_event_id=event.event_id,
        order_id=event.cart_id,
        user_id=event.user_id,
        email=event.email,
        lines=[
            services.OrderLine(
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                unit_price=line.unit_price,
                quantity=line.quantity,
            )
            for line in event.lines
        ],
        total=event.total,
        currency=event.currency,
    )


def on_cart_paid(event: CartPaid) -> None:
    services.notify_payment_confirmed(
        source_event_id=event.event_id,
        order_id=event.cart_id,
        user_id=event.user_id,
        email=event.email,
        payment_id=event.payment_id,
        total=event.total,
        currency=event.currency,
    )


def on_cart_payment_failed(event: CartPaymentFailed) -> None:
    services.notify_payment_failed(
        source_event_id=event.event_id,
        order_id=event.cart_id,
        user_id=event.user_id,
        email=event.email,
        failure_code=event.failure_code,
        total=event.total,
        currency=event.currency,
    )


def on_cart_expired(event: CartExpired) -> None:
    """An order that ran out of time unpaid ends with no CartPaymentFailed: its own notice."""
    services.notify_order_expired(
        source_event_id=event.event_id,
        order_id=event.cart_id,
        user_id=event.user_id,
        email=event.email,
        total=event.total,
        currency=event.currency,
    )


def on_payment_refunded(event: PaymentRefunded) -> None:
    services.notify_refund_issued(
        source_event_id=event.event_id,
        order_id=event.cart_id,
        email=event.email,
        payment_id=event.payment_id,
        amount=event.amount,
        currency=event.currency,
    )


def on_cart_item_removed(event: CartItemRemoved) -> None:
    if event.reason != PRODUCT_DISCONTINUED:
        return  # the customer took it out themselves
    services.notify_item_discontinued(
        source_event_id=event.event_id,
        cart_id=event.cart_id,
        user_id=event.user_id,
        email=event.email,
        product_id=event.product_id,
        sku=event.sku,
        name=event.name,
        quantity=event.quantity,
    )


def on_back_in_stock(event: BackInStock) -> None:
    services.notify_back_in_stock(source_event_id=event.event_id, product_id=event.product_id)


def on_product_price_changed(event: ProductPriceChanged) -> None:
    services.notify_price_drop(
        source_event_id=event.event_id,
        product_id=event.product_id,
        old_price=event.old_price,
        new_price=event.new_price,
    )
