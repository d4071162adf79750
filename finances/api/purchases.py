from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.client_ip import client_ip_from_request
from core.openapi import errors
from core.rate_limit import rate_limit_consume
from finances.api.serializers import (
    PricingPlanSerializer,
    PurchaseInitiateInputSerializer,
    PurchaseInitiateOutputSerializer,
)
from finances.selectors.plans import pricing_plan_list_active
from finances.services.purchases import purchase_initiate


class PricingPlanListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="pricing_plans_list",
        summary="Active pricing plans",
        responses={200: PricingPlanSerializer(many=True), **errors(500)},
    )
    def get(self, request: Request) -> Response:
        return Response(PricingPlanSerializer(pricing_plan_list_active(), many=True).data)


class PurchaseInitiateView(APIView):
    """Starts a purchase: authenticated users buy for themselves (or a linked student),
    guests give a name and email. The price always comes from the plan."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="purchase_initiate",
        summary="Start a purchase and get the PaymentIntent client secret",
        request=PurchaseInitiateInputSerializer,
        responses={
            201: PurchaseInitiateOutputSerializer,
            **errors(
                400,
                403,
                415,
                429,
                500,
                http_402="The payment was declined (`payment_declined`).",
                http_502="Stripe rejected the request (`payment_provider_rejected`).",
                http_503="Stripe unavailable (`payment_provider_unavailable`); retry later.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        rate_limit_consume(scope="purchase_initiate_ip", identifier=client_ip_from_request(request))
        serializer = PurchaseInitiateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        buyer = request.user if request.user.is_authenticated else None
        student_info = serializer.validated_data.get("student_info") or {}
        email = student_info.get("email") or (buyer.email if buyer else None)
        if email:
            rate_limit_consume(scope="purchase_initiate_email", identifier=email)
        initiation = purchase_initiate(
            plan_id=serializer.validated_data["plan_id"],
            buyer=buyer,
            student_name=student_info.get("name"),
            student_email=student_info.get("email"),
        )
        return Response(
            PurchaseInitiateOutputSerializer(initiation).data, status=status.HTTP_201_CREATED
        )
