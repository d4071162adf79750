"""Django-level error pages: JSON envelopes under /api/, Django's own pages elsewhere."""

from django.http import JsonResponse
from django.views import defaults

from core.errors import error_body

_JSON_PREFIXES = ("/api/", "/health/", "/metrics/")


def _wants_json(request) -> bool:
    return request.path.startswith(_JSON_PREFIXES)


def bad_request(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body(code="bad_request", message="Bad request."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _wants_json(request):
        return JsonResponse(
            error_body(code="permission_denied", message="Not allowed."), status=403
        )
    return defaults.permission_denied(request, exception)


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body(code="not_found", message="Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return JsonResponse(
            error_body(code="internal_error", message="An unexpected error occurred."), status=500
        )
    return defaults.server_error(request)
