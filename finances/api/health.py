import hmac

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFoundError
from core.openapi import errors
from finances.selectors.health import health_report
from finances.selectors.prometheus import prometheus_exposition

HealthSerializer = inline_serializer(
    name="Health",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "degraded", "unavailable"]),
        "checks": serializers.DictField(
            help_text="database, cache, stripe, webhooks: each {ok, latency_ms, ...}."
        ),
    },
)


class HealthView(APIView):
    """200 while this instance can serve (database and cache answer), with `degraded` when
    Stripe is unreachable or webhooks pile up; 503 when it cannot serve."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="health",
        summary="Health of this instance and its dependencies",
        parameters=[
            OpenApiParameter(
                "stripe",
                type=bool,
                required=False,
                description="`false` skips the (cached) Stripe check.",
            )
        ],
        responses={200: HealthSerializer, 503: OpenApiResponse(HealthSerializer)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        include_stripe = request.query_params.get("stripe", "true").lower() not in ("0", "false")
        report = health_report(include_stripe=include_stripe)
        return Response(
            {"status": report.status, "checks": report.checks},
            status=503 if report.status == "unavailable" else 200,
        )


class MetricsView(APIView):
    """Prometheus metrics, read from the database at scrape time, so they are exact across
    every process and machine. Off unless METRICS_ENABLED; METRICS_BEARER_TOKEN protects it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="metrics",
        summary="Prometheus metrics (when enabled)",
        responses={
            (200, "text/plain"): OpenApiResponse(description="Prometheus text exposition."),
            **errors(404),
        },
        auth=[],
    )
    def get(self, request: Request) -> HttpResponse:
        if not settings.METRICS_ENABLED:
            raise NotFoundError()
        token = settings.METRICS_BEARER_TOKEN
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token and not hmac.compare_digest(presented.encode(), token.encode()):
            raise NotFoundError()
        return HttpResponse(prometheus_exposition(), content_type=CONTENT_TYPE_LATEST)
