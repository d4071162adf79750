import logging
import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.errors import ApplicationError, error_body
from core.openapi import errors
from finances.errors import WebhookPayloadTooLarge
from finances.services.webhooks import stripe_webhook_receive

logger = logging.getLogger(__name__)


def _read_capped_body(request: HttpRequest) -> bytes:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise WebhookPayloadTooLarge()
    body = request.read(limit + 1)
    if len(body) > limit:
        raise WebhookPayloadTooLarge()
    return body


def _skip_health_check_of_a_busy_connection() -> None:
    """CONN_HEALTH_CHECKS costs a `SELECT 1` round trip before each request's first query.
    A connection this process used for a webhook less than
    WEBHOOK_DB_HEALTH_CHECK_IDLE_SECONDS ago is taken as alive: under load (when round
    trips count) it always is. If it died meanwhile, the record step fails, Stripe gets a
    5xx and delivers again, and Django closes the broken connection at the request's end:
    nothing is lost, since no 2xx goes out before the effects are committed."""
    used_at = getattr(connection, "webhook_used_at", None)
    if (
        connection.connection is not None
        and used_at is not None
        and time.monotonic() - used_at < settings.WEBHOOK_DB_HEALTH_CHECK_IDLE_SECONDS
    ):
        connection.health_check_done = True


@csrf_exempt
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """Receives Stripe events. Answers 2xx only once the effects are committed (or the
    event was deliberately ignored); 5xx asks Stripe to deliver it again.

    A plain Django view: no session, authentication or content negotiation, on the path
    every payment takes. `StripeWebhookSchema` below documents it.
    """
    if request.method != "POST":
        response = JsonResponse(
            error_body(
                code="method_not_allowed", message=f'Method "{request.method}" not allowed.'
            ),
            status=405,
        )
        response["Allow"] = "POST"
        return response
    _skip_health_check_of_a_busy_connection()
    try:
        receipt = stripe_webhook_receive(
            payload=_read_capped_body(request),
            signature_header=request.META.get("HTTP_STRIPE_SIGNATURE"),
        )
        connection.webhook_used_at = time.monotonic()
    except ApplicationError as error:
        logger.warning("webhook.rejected", extra={"code": error.code, "reason": error.message})
        return JsonResponse(
            error_body(code=error.code, message=error.message), status=error.status_code
        )
    if receipt.error_code:
        return JsonResponse(
            error_body(code=receipt.error_code, message=receipt.message), status=receipt.http_status
        )
    return JsonResponse(
        {
            "received": True,
            "event_id": receipt.event_id,
            "status": receipt.status,
            "duplicate": receipt.duplicate,
        },
        status=receipt.http_status,
    )


WebhookAcknowledgementSerializer = inline_serializer(
    name="WebhookAcknowledgement",
    fields={
        "received": serializers.BooleanField(),
        "event_id": serializers.CharField(),
        "status": serializers.CharField(help_text="PROCESSED, IGNORED or FAILED (flagged)."),
        "duplicate": serializers.BooleanField(),
    },
)


class StripeWebhookSchema(APIView):
    """The OpenAPI description of `stripe_webhook` (drf-spectacular documents DRF views);
    never routed itself."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    http_method_names = ["post"]

    @extend_schema(
        operation_id="stripe_webhook",
        summary="Stripe webhook endpoint",
        description=(
            "Signed Stripe events. Answers 2xx only once the effects are committed, or the "
            "event was deliberately ignored (not ours, unhandled type, or flagged for review); "
            "5xx asks Stripe to deliver it again. Duplicates are answered 200 with no effect."
        ),
        request={"application/json": {"type": "object", "description": "A Stripe event."}},
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                location=OpenApiParameter.HEADER,
                required=True,
                description="`t=<unix time>,v1=<HMAC-SHA256>` as sent by Stripe.",
            )
        ],
        responses={
            200: WebhookAcknowledgementSerializer,
            **errors(
                405,
                http_400=(
                    "Bad or missing signature (`invalid_signature`) or malformed event "
                    "(`malformed_event`)."
                ),
                http_413="Body larger than the configured cap (`payload_too_large`).",
                http_500="Processing failed (`processing_failed`); Stripe will deliver it again.",
            ),
        },
        auth=[],
    )
    def post(self, request):
        raise NotImplementedError


# What DRF's schema enumeration looks for on a view callable.
stripe_webhook.cls = StripeWebhookSchema
stripe_webhook.initkwargs = {}
