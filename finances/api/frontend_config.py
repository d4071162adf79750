from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import errors
from finances.api.serializers import PricingPlanSerializer
from finances.selectors.frontend_config import stripe_js_settings
from finances.selectors.plans import pricing_plan_list_active


class PlanWithCheckoutSerializer(PricingPlanSerializer):
    checkout_url = serializers.SerializerMethodField()

    class Meta(PricingPlanSerializer.Meta):
        fields = [*PricingPlanSerializer.Meta.fields, "checkout_url"]

    def get_checkout_url(self, plan) -> str:
        return self.context["request"].build_absolute_uri(f"/checkout/{plan.slug}/")


class FrontendConfigView(APIView):
    """Everything a front end on another origin needs to sell: the Stripe.js to load and
    its publishable key, the currencies, the plans with their checkout pages, and where
    sign-in and purchases live. No secret in it."""

    permission_classes = [AllowAny]
    authentication_classes = []  # the same answer for everyone

    @extend_schema(
        operation_id="frontend_config",
        summary="Publishable key, Stripe.js URL, currencies and plans for front ends",
        responses={
            200: inline_serializer(
                "FrontendConfig",
                {
                    "stripe": inline_serializer(
                        "FrontendStripeConfig",
                        {
                            "publishable_key": serializers.CharField(),
                            "js_url": serializers.URLField(),
                            "is_localstripe": serializers.BooleanField(),
                        },
                    ),
                    "currencies": serializers.ListField(child=serializers.CharField()),
                    "plans": PlanWithCheckoutSerializer(many=True),
                    "endpoints": serializers.DictField(child=serializers.CharField()),
                },
            ),
            **errors(500),
        },
    )
    def get(self, request: Request) -> Response:
        stripe = stripe_js_settings()
        plans = list(pricing_plan_list_active())
        base = request.build_absolute_uri("/").rstrip("/")

        def url(path: str) -> str:
            return f"{base}{path}"

        return Response(
            {
                "stripe": {
                    "publishable_key": stripe.publishable_key,
                    "js_url": stripe.js_url,
                    "is_localstripe": stripe.is_localstripe,
                },
                "currencies": sorted({plan.currency for plan in plans}),
                "plans": PlanWithCheckoutSerializer(
                    plans, many=True, context={"request": request}
                ).data,
                "endpoints": {
                    "purchase_initiate": url("/api/finances/purchase/initiate/"),
                    "purchase_status": url("/api/finances/purchase/{transaction_id}/status/"),
                    "balance": url("/api/finances/balance/"),
                    "headless_browser": url("/_allauth/browser/v1/"),
                    "headless_app": url("/_allauth/app/v1/"),
                    "headless_openapi": url("/_allauth/openapi.html"),
                    "login_page": url("/accounts/login/"),
                    "signup_page": url("/accounts/signup/"),
                },
            }
        )
