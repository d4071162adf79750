from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from finances.api.health import HealthView, MetricsView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("health/", HealthView.as_view(), name="health"),
    path("metrics/", MetricsView.as_view(), name="metrics"),
    path("api/finances/", include("finances.api.urls")),
    path("api/accounts/", include("accounts.api.urls")),
    # --- Sign-in (allauth) ---
    path("accounts/", include("accounts.urls")),  # claim/ (before allauth's)
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    # --- end Sign-in (allauth) ---
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # --- Storefront (helper "pages"): /, /checkout/…, /account/ -------------------------
    path("", include("storefront.urls")),
    # --- end of the storefront block ----------------------------------------------------
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
