from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "apps.products"
    label = "products"
    verbose_name = "Products"

    def ready(self) -> None:
        from apps.inventory.events import BackInStock, OutOfStock
        from apps.products import handlers
        from ecommerce.bus import subscribe

        subscribe(OutOfStock, handlers.on_stock_crossed_zero, name="products.out_of_stock")
        subscribe(BackInStock, handlers.on_stock_crossed_zero, name="products.back_in_stock")
