from django.urls import path

from apps.inventory.api.views import StockAdjustView, StockDetailView, StockMovementListView

urlpatterns = [
    path("inventory/<uuid:product_id>/", StockDetailView.as_view(), name="inventory-stock"),
    path(
        "inventory/<uuid:product_id>/adjustments",
        StockAdjustView.as_view(),
        name="inventory-adjustments",
    ),
    path(
        "inventory/<uuid:product_id>/movements",
        StockMovementListView.as_view(),
        name="inventory-movements",
    ),
]
