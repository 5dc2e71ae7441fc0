"""Notifications: notifications to customers, templates and subscriptions."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from apps.cart.events import (
            CartCheckedOut,
            CartExpired,
            CartItemRemoved,
            CartPaid,
            CartPaymentFailed,
        )
        from apps.inventory.events import BackInStock
        from apps.notifications import handlers
        from apps.payments.events import PaymentRefunded
        from apps.products.events import ProductPriceChanged
        from ecommerce.bus import subscribe

        subscribe(CartCheckedOut, handlers.on_cart_checked_out, name="notifications.order_received")
        subscribe(CartPaid, handlers.on_cart_paid, name="notifications.payment_confirmed")
        subscribe(
            CartPaymentFailed, handlers.on_cart_payment_failed, name="notifications.payment_failed"
        )
        subscribe(CartExpired, handlers.on_cart_expired, name="notifications.order_expired")
        subscribe(PaymentRefunded, handlers.on_payment_refunded, name="notifications.refund_issued")
        subscribe(
            CartItemRemoved, handlers.on_cart_item_removed, name="notifications.item_discontinued"
        )
        subscribe(BackInStock, handlers.on_back_in_stock, name="notifications.back_in_stock")
        subscribe(
            ProductPriceChanged, handlers.on_product_price_changed, name="notifications.price_drop"
        )
