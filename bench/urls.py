from django.urls import path

from bench.ceiling import ceiling_webhook, no_database_webhook, raw_ceiling_webhook
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path("bench/ceiling/", ceiling_webhook, name="bench-ceiling"),
    path("bench/raw/", raw_ceiling_webhook, name="bench-raw"),
    path("bench/nodb/", no_database_webhook, name="bench-nodb"),
]
