"""Inventory's reactions to other apps' events. Thin and safe to run twice, or replayed
later: each calls a service that checks the current state first."""

import logging

from apps.inventory import services
from apps.payments.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
from apps.products.events import ProductCreated, ProductDiscontinued, ProductUpdated

logger = logging.getLogger(__name__)


def on_product_created(event: ProductCreated) -> None:
    """Every product gets a stock row (empty until staff adjust it), shown to shoppers only
    while the product is for sale; idempotent."""
    _list(event, listed=event.status == "active")


def on_product_updated(event: ProductUpdated) -> None:
    """A draft published, or a product moved back to draft: its stock is shown, or hidden."""
    if "status" in event.changed:
        _list(event, listed=event.status == "active")


def on_product_discontinued(event: ProductDiscontinued) -> None:
    """No longer sold: its stock is staff's only."""
    _list(event, listed=False)


def _list(event: ProductCreated | ProductUpdated | ProductDiscontinued, *, listed: bool) -> None:
    """Show or hide the product's stock as of the event. The row is made first if need be:
    each product event has its own subscriber, so a status change may run before
    ``create_stock`` (retried), whose older ProductCreated then changes nothing."""
    services.stock_create(product_id=event.product_id, sku=event.sku)
    services.stock_set_listed(product_id=event.product_id, listed=listed, as_of=event.occurred_at)


def on_payment_succeeded(event: PaymentSucceeded) -> None:
    """The order is paid: its reserved units are sold."""
    try:
        services.reservation_commit(reference=event.cart_id, payment_id=event.payment_id)
    except services.ReservationNotActive:
        # Paid after the reservation expired or was released: the units went back on sale.
        # Retrying cannot change that. The order ended (expired or failed), and payments
        # refunds a charge that lands on an ended order; the refund then returns nothing here.
        logger.warning(
            "payment %s succeeded for cart %s whose reservation no longer holds stock",
            event.payment_id,
            event.cart_id,
        )


def on_payment_failed(event: PaymentFailed) -> None:
    services.reservation_release(reference=event.cart_id, reason=event.failure_code)


def on_payment_refunded(event: PaymentRefunded) -> None:
    """Refunded: the sold units come back on hand. A reservation that expired or was
    released never sold its units, so there is nothing to return (a no-op). While the
    reservation is still active the commit has not arrived yet: the service raises, and the
    bus retries this delivery later."""
    services.reservation_return(reference=event.cart_id)
