from django.urls import path

from ecommerce.accounts.api.views import RegisterView, TokenView

urlpatterns = [
    path("auth/register", RegisterView.as_view(), name="auth-register"),
    path("auth/token", TokenView.as_view(), name="auth-token"),
]
