"""``/api/internal/inventory/``: for the shop's own services (``apps.inventory.http_client``)."""

from django.urls import path

from apps.inventory.api import internal_views as views

urlpatterns = [
    path("stock", views.StockCreateView.as_view(), name="internal-inventory-stock-create"),
    path("stock/lookup", views.StockLookupView.as_view(), name="internal-inventory-stock-lookup"),
    path(
        "stock/<uuid:product_id>",
        views.StockDetailView.as_view(),
        name="internal-inventory-stock",
    ),
    path(
        "stock/<uuid:product_id>/adjustments",
        views.StockAdjustView.as_view(),
        name="internal-inventory-stock-adjust",
    ),
    path(
        "reservations",
        views.ReservationCreateView.as_view(),
        name="internal-inventory-reservation-create",
    ),
    path(
        "reservations/<uuid:reference>",
        views.ReservationDetailView.as_view(),
        name="internal-inventory-reservation",
    ),
]
