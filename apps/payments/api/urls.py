from django.urls import path

from apps.payments.api.views import (
    PaymentDetailView,
    PaymentListView,
    PaymentRefundView,
    PaymentWebhookView,
)

urlpatterns = [
    path("payments/", PaymentListView.as_view(), name="payment-list"),
    path("payments/webhook", PaymentWebhookView.as_view(), name="payment-webhook"),
    path("payments/<uuid:payment_id>/", PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<uuid:payment_id>/refund", PaymentRefundView.as_view(), name="payment-refund"),
]
