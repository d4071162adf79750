from django.urls import path

from bench.ceiling import ceiling_webhook
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [*product_urlpatterns, path("bench/ceiling/", ceiling_webhook, name="bench-ceiling")]
