from django.urls import path

from apps.cart.api.views import (
    CartCheckoutView,
    CartClaimView,
    CartCreateView,
    CartDetailView,
    CartItemAddView,
    CartItemView,
)

urlpatterns = [
    path("carts/", CartCreateView.as_view(), name="cart-create"),
    path("carts/<uuid:cart_id>/", CartDetailView.as_view(), name="cart-detail"),
    path("carts/<uuid:cart_id>/items", CartItemAddView.as_view(), name="cart-items"),
    path("carts/<uuid:cart_id>/items/<uuid:item_id>", CartItemView.as_view(), name="cart-item"),
    path("carts/<uuid:cart_id>/checkout", CartCheckoutView.as_view(), name="cart-checkout"),
    path("carts/<uuid:cart_id>/claim", CartClaimView.as_view(), name="cart-claim"),
]
