from django.urls import path

from apps.products.api.views import (
    CategoryListView,
    ProductCollectionView,
    ProductDetailView,
    ProductDiscontinueView,
)

urlpatterns = [
    path("products/", ProductCollectionView.as_view(), name="product-list"),
    path("products/<uuid:product_id>/", ProductDetailView.as_view(), name="product-detail"),
    path(
        "products/<uuid:product_id>/discontinue",
        ProductDiscontinueView.as_view(),
        name="product-discontinue",
    ),
    path("categories/", CategoryListView.as_view(), name="category-list"),
]
