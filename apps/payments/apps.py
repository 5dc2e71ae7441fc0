"""Payments: payments, gateway calls, refunds and webhooks."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from apps.cart.events import CartCheckedOut, CartExpired
        from apps.payments import handlers
        from ecommerce.bus import subscribe

        subscribe(CartCheckedOut, handlers.on_cart_checked_out, name="payments.start_payment")
        subscribe(CartExpired, handlers.on_cart_expired, name="payments.cancel_expired_order")
