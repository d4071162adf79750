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
from rest_framework import exceptions, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFoundError
from core.openapi import errors
from finances.selectors.health import health_details, health_report, health_summary
from finances.selectors.prometheus import prometheus_exposition

HealthSerializer = inline_serializer(
    name="Health",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "degraded", "down"]),
        "checks": serializers.DictField(
            required=False,
            help_text="Staff or HEALTH_BEARER_TOKEN only: database, cache, stripe, webhooks, "
            "each {ok, latency_ms, error?, ...}.",
        ),
    },
)


def _may_see_details(request: Request) -> bool:
    """Staff (session or API token), or monitoring with HEALTH_BEARER_TOKEN. A stale
    token is just anonymous here: a probe must never get a 401."""
    try:
        user = request.user
    except exceptions.AuthenticationFailed:
        user = None
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    token = settings.HEALTH_BEARER_TOKEN
    header = request.headers.get("Authorization", "")
    if not (token and header.startswith("Bearer ")):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())


class HealthView(APIView):
    """200 while this instance can serve (database and cache answer), with `degraded` when
    Stripe is unreachable or webhooks pile up; 503 `down` when it cannot serve. Anonymous
    callers get the status only; staff and HEALTH_BEARER_TOKEN holders get the checks."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]

    def perform_authentication(self, request: Request) -> None:
        """Lazy: the user is read only to decide on the details (see `_may_see_details`)."""

    @extend_schema(
        operation_id="health",
        summary="Health of this instance (details for staff or the health bearer token)",
        description=(
            "Anyone gets `{status}`. Signed-in staff (session or `Token`) and callers with "
            "`Authorization: Bearer <HEALTH_BEARER_TOKEN>` also get `checks`. A bad or stale "
            "credential is answered as anonymous, never 401."
        ),
        parameters=[
            OpenApiParameter(
                "stripe",
                type=bool,
                required=False,
                description="`false` skips the (cached) Stripe check.",
            )
        ],
        responses={200: HealthSerializer, 503: OpenApiResponse(HealthSerializer)},
        auth=[{}, {"tokenAuth": []}, {"cookieAuth": []}],
    )
    def get(self, request: Request) -> Response:
        include_stripe = request.query_params.get("stripe", "true").lower() not in ("0", "false")
        report = health_report(include_stripe=include_stripe)
        body = health_details(report) if _may_see_details(request) else health_summary(report)
        return Response(body, status=503 if report.status == "down" else 200)


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
