from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import errors
from finances.api.serializers import PricingPlanSerializer
from finances.selectors.plans import pricing_plan_list_active


class PricingPlanListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="pricing_plans_list",
        summary="Active pricing plans",
        responses={200: PricingPlanSerializer(many=True), **errors(401, 500)},
    )
    def get(self, request: Request) -> Response:
        return Response(PricingPlanSerializer(pricing_plan_list_active(), many=True).data)
