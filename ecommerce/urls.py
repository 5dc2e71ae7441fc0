from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ecommerce.core.views import HealthView, admin_sign_in, api_not_found

api_v1: list[URLPattern | URLResolver] = [
    path("health", HealthView.as_view(), name="health"),
    path("", include("ecommerce.accounts.api.urls")),
    path("", include("apps.products.api.urls")),
    path("", include("apps.inventory.api.urls")),
    path("", include("apps.cart.api.urls")),
    path("", include("apps.payments.api.urls")),
    path("", include("apps.notifications.api.urls")),
]

# For the shop's own services when apps run apart (docs/SPLITTING.md); not in the schema.
api_internal: list[URLPattern | URLResolver] = [
    path("products/", include("apps.products.api.internal_urls")),
    path("inventory/", include("apps.inventory.api.internal_urls")),
]

urlpatterns = [
    path("admin/login/", admin_sign_in, name="admin-sign-in"),  # before the admin's own
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # A page to read: its HTML renderer has nothing to show for OPTIONS (that was a 500).
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="swagger-ui",
    ),
    path("api/v1/", include(api_v1)),
    path("api/internal/", include(api_internal)),
    re_path(r"^api/(?P<path>.*)$", api_not_found),
]

handler404 = "ecommerce.core.views.handler404"
handler500 = "ecommerce.core.views.handler500"
