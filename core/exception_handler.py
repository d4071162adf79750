"""The single DRF exception handler: every error leaves the API in the common envelope."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import ApplicationError, error_body

logger = logging.getLogger(__name__)

_CODES_BY_EXCEPTION = {
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def _validation_fields(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def application_exception_handler(exc, context) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        set_rollback()
        body = error_body(code=exc.code, message=exc.message, fields=exc.fields)
        return Response(body, status=exc.status_code, headers=exc.headers)

    if isinstance(exc, exceptions.ValidationError):
        body = error_body(
            code="validation_error",
            message="The request has invalid fields.",
            fields=_validation_fields(exc.detail),
        )
        return Response(body, status=exc.status_code)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
        code = _CODES_BY_EXCEPTION.get(type(exc), exc.default_code)
        message = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
        return Response(
            error_body(code=code, message=message), status=exc.status_code, headers=headers
        )

    view = context.get("view")
    logger.exception("api.unhandled_error", extra={"view": type(view).__name__ if view else None})
    set_rollback()
    return Response(
        error_body(code="internal_error", message="An unexpected error occurred."), status=500
    )
