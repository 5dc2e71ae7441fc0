"""``/api/internal/products/``: for the shop's own services (``apps.products.http_client``)."""

from django.urls import path

from apps.products.api import internal_views as views

urlpatterns = [
    path(
        "products/lookup",
        views.ProductLookupView.as_view(),
        name="internal-products-lookup",
    ),
    path(
        "products/<uuid:product_id>",
        views.ProductDetailView.as_view(),
        name="internal-products-product",
    ),
]
