"""What other apps' events do to carts. Thin, and safe to run twice: each calls a service
whose change is conditional on the cart's state (an open cart, a checked-out order).
"""

import logging

from apps.cart import services
from apps.inventory.events import ReservationExpired, StockCommitted
from apps.payments.events import PaymentFailed
from apps.products import services as products
from apps.products.events import ProductDiscontinued, ProductPriceChanged

logger = logging.getLogger(__name__)


def on_product_discontinued(event: ProductDiscontinued) -> None:
    services.carts_remove_product(product_id=event.product_id)


def on_product_price_changed(event: ProductPriceChanged) -> None:
    """Reprice open carts, but only to the product's price now: a replayed or late old
    change must not put back a price that a newer change replaced."""
    try:
        product = products.product_get(product_id=event.product_id)
    except products.ProductNotFound:
        return
    if product.price != event.new_price:
        return
    services.carts_reprice_product(product_id=event.product_id, unit_price=event.new_price)


def on_stock_committed(event: StockCommitted) -> None:
    """The order's units are sold: it is paid. Not on ``PaymentSucceeded``: a payment can
    succeed after the reservation expired and its units went back on sale, whereas a
    reservation is either committed or expired, never both, and the cart sees the one that
    happened (both are events of the reservation, whose reference is the cart id)."""
    if event.payment_id is None:
        logger.warning(
            "stock committed for %s without a payment; not a paid order", event.reference
        )
        return
    services.cart_mark_paid(cart_id=event.reference, payment_id=event.payment_id)


def on_payment_failed(event: PaymentFailed) -> None:
    if event.failure_code == "order_expired":
        # Payments' answer to this cart's own CartExpired: the order already ended, expired.
        return
    services.cart_mark_payment_failed(
        cart_id=event.cart_id, payment_id=event.payment_id, failure_code=event.failure_code
    )


def on_reservation_expired(event: ReservationExpired) -> None:
    # The reservation's reference is the cart id for a checkout; any other is not a cart's.
    services.cart_expire(cart_id=event.reference)
