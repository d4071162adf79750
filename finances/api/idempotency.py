"""The `Idempotency-Key` header a checkout page sends with each payment attempt."""

import re

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from core.errors import ApplicationError

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,100}$")

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description="16 to 100 letters, digits, `-` or `_`, new for each payment attempt (a "
    "random UUID). The same key from the same buyer for the same plan answers the first "
    "request's outcome (200) instead of starting a second purchase: a double submit or a "
    "network retry never charges twice. After a decline, use a new key to retry.",
)


def idempotency_key_from_request(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        return None
    if not _KEY.match(key):
        raise ApplicationError(
            code="validation_error",
            message="The request has invalid fields.",
            fields={"Idempotency-Key": ["16 to 100 letters, digits, '-' or '_'."]},
        )
    return key
