"""The one error type of the product and the one JSON shape every error response has.

Every error answered by the API is `{"error": {"code", "message", "fields"?}}`:
`code` is a stable snake_case identifier for programs, `message` is for people, and
`fields` (validation errors only) maps each input field to its messages.
"""

from typing import Any


class ApplicationError(Exception):
    """An expected failure with a code, a message and the HTTP status that reports it."""

    default_code = "application_error"
    default_message = "The request could not be completed."
    default_status_code = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.status_code = status_code or self.default_status_code
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)


class NotFoundError(ApplicationError):
    default_code = "not_found"
    default_message = "Not found."
    default_status_code = 404


class PermissionDeniedError(ApplicationError):
    """The acting user lacks the permission this action needs."""

    default_code = "permission_denied"
    default_message = "You do not have permission to do this."
    default_status_code = 403


class ConflictError(ApplicationError):
    default_code = "conflict"
    default_status_code = 409


class RateLimitExceeded(ApplicationError):
    default_code = "rate_limited"
    default_message = "Too many attempts. Try again later."
    default_status_code = 429

    def __init__(self, *, retry_after_seconds: int, message: str | None = None) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


def field_invalid(field: str, message: str) -> ApplicationError:
    """The validation error of one input field, as the API answers it (400)."""
    return ApplicationError(
        code="validation_error",
        message="The request has invalid fields.",
        fields={field: [message]},
    )


def error_body(*, code: str, message: str, fields: dict[str, Any] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}
