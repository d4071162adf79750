from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.languages import language_of_request
from core.client_ip import client_network_from_request
from core.errors import ApplicationError, NotFoundError
from core.openapi import errors
from core.rate_limit import rate_limit_consume
from finances.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotency_key_from_request
from finances.api.serializers import (
    PurchaseInitiateInputSerializer,
    PurchaseInitiateOutputSerializer,
    PurchaseListQuerySerializer,
    PurchaseSerializer,
)
from finances.selectors.purchases import purchase_get_visible, purchase_list_for_user
from finances.services.purchases import pricing_plan_for_purchase, purchase_initiate


def buyer_rate_limit_consume(*, buyer, student_info: dict) -> None:
    """Charges a validated purchase or subscription start to its buyer, before Stripe is
    called: a signed-in buyer per account, a guest per email. A stranger can fill a guest
    email's bucket, never the account's own."""
    if buyer is not None:
        rate_limit_consume(scope="purchase_initiate_user", identifier=str(buyer.pk))
    elif student_info.get("email"):
        rate_limit_consume(scope="purchase_initiate_email", identifier=student_info["email"])


class PurchaseInitiateView(APIView):
    """Starts a purchase: authenticated users buy for themselves (or a linked student),
    guests give a name and email. The price always comes from the plan."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="purchase_initiate",
        summary="Start a purchase and get the PaymentIntent client secret",
        request=PurchaseInitiateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: PurchaseInitiateOutputSerializer,
            200: PurchaseInitiateOutputSerializer,
            **errors(
                400,
                401,
                403,
                415,
                429,
                500,
                http_409="A request with this `Idempotency-Key` is still being processed "
                "(`checkout_in_progress`).",
                http_402="The payment was declined (`payment_declined`).",
                http_502="Stripe rejected the request (`payment_provider_rejected`).",
                http_503="Stripe unavailable (`payment_provider_unavailable`), or the rate-limit "
                "cache is (`service_unavailable`); retry after `Retry-After`.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        # Every attempt counts against the client's address (its /64 for IPv6), valid or not.
        rate_limit_consume(
            scope="purchase_initiate_ip", identifier=client_network_from_request(request)
        )
        serializer = PurchaseInitiateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        checkout_key = idempotency_key_from_request(request)
        buyer = request.user if request.user.is_authenticated else None
        student_info = serializer.validated_data.get("student_info") or {}
        plan_id = serializer.validated_data["plan_id"]
        plan = pricing_plan_for_purchase(plan_id=plan_id)
        buyer_rate_limit_consume(buyer=buyer, student_info=student_info)
        initiation = purchase_initiate(
            plan_id=plan_id,
            plan=plan,
            buyer=buyer,
            student_name=student_info.get("name"),
            student_email=student_info.get("email"),
            language=language_of_request(),
            payment_method_id=serializer.validated_data.get("payment_method_id"),
            checkout_key=checkout_key,
        )
        return Response(
            PurchaseInitiateOutputSerializer(initiation).data,
            status=status.HTTP_200_OK if initiation.replayed else status.HTTP_201_CREATED,
        )


class ClientSecretInUrl(ApplicationError):
    default_code = "client_secret_in_url"
    default_message = (
        "Send the client secret in the X-Client-Secret header; a secret in the URL ends up "
        "in access and proxy logs, so the client_secret query parameter is refused."
    )
    default_status_code = 400


class PurchaseStatusView(APIView):
    """The status of one purchase, for its student, its payer, staff, or a guest who
    presents the PaymentIntent's client secret in the `X-Client-Secret` header (never in
    the URL: a `client_secret` query parameter answers 400)."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="purchase_status",
        summary="Status of a purchase",
        parameters=[
            OpenApiParameter(
                "X-Client-Secret",
                location=OpenApiParameter.HEADER,
                required=False,
                description="The PaymentIntent client secret (guests). Header only.",
            ),
        ],
        responses={
            200: PurchaseSerializer,
            **errors(
                401,
                404,
                500,
                http_400="The client secret was sent in the URL (`client_secret_in_url`).",
            ),
        },
    )
    def get(self, request: Request, transaction_id) -> Response:
        if "client_secret" in request.query_params:
            raise ClientSecretInUrl()
        purchase = purchase_get_visible(
            transaction_id=transaction_id,
            user=request.user,
            client_secret=request.headers.get("X-Client-Secret"),
        )
        if purchase is None:
            raise NotFoundError("No purchase with this id is visible to you.")
        return Response(PurchaseSerializer(purchase).data)


class PurchaseListView(ListAPIView):
    """The caller's purchases (as student or payer), newest first."""

    serializer_class = PurchaseSerializer

    @extend_schema(
        operation_id="purchases_list",
        summary="The caller's purchases",
        parameters=[PurchaseListQuerySerializer],
        responses={200: PurchaseSerializer(many=True), **errors(400, 401, 404, 500)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = PurchaseListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return purchase_list_for_user(
            user=self.request.user, status=query.validated_data.get("status")
        )
