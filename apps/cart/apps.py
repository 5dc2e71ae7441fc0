from django.apps import AppConfig


class CartConfig(AppConfig):
    name = "apps.cart"
    label = "cart"
    verbose_name = "Cart"

    def ready(self) -> None:
        from apps.cart import handlers
        from apps.inventory.events import ReservationExpired, StockCommitted
        from apps.payments.events import PaymentFailed
        from apps.products.events import ProductDiscontinued, ProductPriceChanged
        from ecommerce.bus import subscribe

        subscribe(ProductDiscontinued, handlers.on_product_discontinued, name="cart.drop_product")
        subscribe(
            ProductPriceChanged, handlers.on_product_price_changed, name="cart.reprice_product"
        )
        subscribe(StockCommitted, handlers.on_stock_committed, name="cart.mark_paid_on_commit")
        subscribe(PaymentFailed, handlers.on_payment_failed, name="cart.mark_payment_failed")
        subscribe(ReservationExpired, handlers.on_reservation_expired, name="cart.expire")
