from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "apps.inventory"
    label = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from apps.inventory import handlers
        from apps.payments.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
        from apps.products.events import ProductCreated, ProductDiscontinued, ProductUpdated
        from ecommerce.bus import subscribe

        subscribe(ProductCreated, handlers.on_product_created, name="inventory.create_stock")
        subscribe(ProductUpdated, handlers.on_product_updated, name="inventory.list_stock")
        subscribe(
            ProductDiscontinued, handlers.on_product_discontinued, name="inventory.unlist_stock"
        )
        subscribe(
            PaymentSucceeded, handlers.on_payment_succeeded, name="inventory.commit_reservation"
        )
        subscribe(PaymentFailed, handlers.on_payment_failed, name="inventory.release_reservation")
        subscribe(
            PaymentRefunded, handlers.on_payment_refunded, name="inventory.return_reservation"
        )
