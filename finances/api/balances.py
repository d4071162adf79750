from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import errors
from finances.api.serializers import (
    BalanceQuerySerializer,
    BalanceSerializer,
    LedgerEntrySerializer,
)
from finances.selectors.balances import balance_summary_get, ledger_entries_for_student


class BalanceView(APIView):
    """The caller's hours: what is usable now, per package with its expiry, and what
    expires soon."""

    @extend_schema(
        operation_id="balance_retrieve",
        summary="The caller's hours balance",
        parameters=[BalanceQuerySerializer],
        responses={200: BalanceSerializer, **errors(400, 401, 500)},
    )
    def get(self, request: Request) -> Response:
        query = BalanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = balance_summary_get(
            student_id=request.user.pk,
            expiring_within_days=query.validated_data["expiring_within_days"],
        )
        return Response(BalanceSerializer(summary).data)


class BalanceHistoryView(ListAPIView):
    """The caller's hours ledger, newest first: purchases credited, lessons used (with who
    recorded them), reversals, refunds and expiries."""

    serializer_class = LedgerEntrySerializer

    @extend_schema(
        operation_id="balance_history",
        summary="The caller's hours ledger",
        responses={200: LedgerEntrySerializer(many=True), **errors(401, 404, 500)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return ledger_entries_for_student(student_id=self.request.user.pk)
