"""OpenAPI pieces shared by every view: the error envelope and the standard responses."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorEnvelopeSerializer = inline_serializer(
    name="ErrorEnvelope",
    fields={
        "error": inline_serializer(
            name="Error",
            fields={
                "code": serializers.CharField(help_text="Stable machine-readable code."),
                "message": serializers.CharField(help_text="Human-readable explanation."),
                "fields": serializers.DictField(
                    child=serializers.JSONField(),
                    required=False,
                    help_text=(
                        "Validation errors only: for each input field, its messages (a list "
                        "of strings), or for a nested object, the same mapping for its fields."
                    ),
                ),
            },
        )
    },
)


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorEnvelopeSerializer, description=description)


STANDARD_ERRORS = {
    400: error_response("Invalid input (`validation_error`, `malformed_request`)."),
    401: error_response("Authentication required or failed."),
    403: error_response("Not allowed."),
    404: error_response("Not found."),
    405: error_response("Method not allowed."),
    415: error_response("Unsupported media type (send JSON)."),
    429: error_response("Rate limited; see the Retry-After header."),
    500: error_response("Unexpected error (`internal_error`)."),
}


def errors(*statuses: int, **custom: str) -> dict:
    """The standard error responses for `statuses`, plus custom descriptions by `http_NNN`."""
    responses = {status: STANDARD_ERRORS[status] for status in statuses}
    for key, description in custom.items():
        responses[int(key.removeprefix("http_"))] = error_response(description)
    return responses
