import logging

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError, error_body
from core.openapi import errors
from finances.errors import WebhookPayloadTooLarge
from finances.services.webhooks import stripe_webhook_receive

logger = logging.getLogger(__name__)

WebhookAcknowledgementSerializer = inline_serializer(
    name="WebhookAcknowledgement",
    fields={
        "received": serializers.BooleanField(),
        "event_id": serializers.CharField(),
        "status": serializers.CharField(help_text="PROCESSED, IGNORED or FAILED (flagged)."),
        "duplicate": serializers.BooleanField(),
    },
)


def _read_capped_body(request: Request) -> bytes:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise WebhookPayloadTooLarge()
    body = request._request.read(limit + 1)
    if len(body) > limit:
        raise WebhookPayloadTooLarge()
    return body


class StripeWebhookView(APIView):
    """Receives Stripe events. Answers 2xx only once the effects are committed (or the
    event was deliberately ignored); 5xx asks Stripe to deliver it again."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    http_method_names = ["post"]

    @extend_schema(
        operation_id="stripe_webhook",
        summary="Stripe webhook endpoint",
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
    def post(self, request: Request) -> Response:
        try:
            receipt = stripe_webhook_receive(
                payload=_read_capped_body(request),
                signature_header=request.META.get("HTTP_STRIPE_SIGNATURE"),
            )
        except ApplicationError as error:
            logger.warning("webhook.rejected", extra={"code": error.code, "reason": error.message})
            return Response(
                error_body(code=error.code, message=error.message), status=error.status_code
            )
        if receipt.error_code:
            return Response(
                error_body(code=receipt.error_code, message=receipt.message),
                status=receipt.http_status,
            )
        return Response(
            {
                "received": True,
                "event_id": receipt.event_id,
                "status": receipt.status,
                "duplicate": receipt.duplicate,
            },
            status=receipt.http_status,
        )
