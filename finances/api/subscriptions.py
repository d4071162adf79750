"""Subscriptions API (issue 12): subscribe, list, show, cancel, resume, change plan."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.client_ip import client_network_from_request
from core.errors import NotFoundError
from core.openapi import errors
from core.rate_limit import rate_limit_consume
from finances.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotency_key_from_request
from finances.api.purchases import buyer_rate_limit_consume
from finances.api.serializers import AmountField, HoursField, StudentInfoSerializer
from finances.models import Subscription
from finances.selectors.subscriptions import subscription_get_visible, subscription_list_for_user
from finances.services.subscription_start import subscription_create, subscription_plan_get
from finances.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_resume,
)

_NOT_OPEN = "The subscription has ended (`subscription_not_active`)."
_UNAVAILABLE = "Stripe unavailable (`payment_provider_unavailable`)."


class SubscriptionCreateInputSerializer(serializers.Serializer):
    plan_id = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    payment_method_id = serializers.RegexField(
        r"^(pm|tok|card|src)_[A-Za-z0-9_]{1,250}$",
        help_text="From Stripe.js: confirmCardSetup's payment_method (pm_…) or createToken "
        "(tok_…).",
    )
    student_info = StudentInfoSerializer(
        required=False, help_text="Required for guests; optional when authenticated."
    )


class SubscriptionCancelInputSerializer(serializers.Serializer):
    immediately = serializers.BooleanField(
        default=False, help_text="Staff only: end it now instead of at the period end."
    )


class SubscriptionChangePlanInputSerializer(serializers.Serializer):
    plan_id = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class SubscriptionPlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    hours = HoursField(source="minutes")
    price = AmountField(source="price_cents")
    currency = serializers.CharField()
    billing_period = serializers.CharField()


class SubscriptionPeriodSerializer(serializers.Serializer):
    invoice_id = serializers.CharField(source="stripe_invoice_id")
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    amount = AmountField(source="amount_cents")
    currency = serializers.CharField()
    transaction_id = serializers.UUIDField(source="purchase_id", allow_null=True)


class SubscriptionSerializer(serializers.Serializer):
    subscription_id = serializers.UUIDField(source="pk")
    status = serializers.ChoiceField(choices=Subscription.Status.choices)
    student_id = serializers.IntegerField()
    plan = SubscriptionPlanSerializer()
    next_plan = SubscriptionPlanSerializer(source="scheduled_plan", allow_null=True)
    current_period_start = serializers.DateTimeField(allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    canceled_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    stripe_subscription_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    periods = SubscriptionPeriodSerializer(many=True, source="granted_periods")


class SubscriptionCreateOutputSerializer(SubscriptionSerializer):
    client_secret = serializers.CharField(
        allow_blank=True, help_text="Set when the first payment needs 3-D Secure."
    )


def _represent(subscription: Subscription, **extra) -> dict:
    subscription.granted_periods = list(subscription.periods.order_by("period_start"))
    if extra:
        subscription.client_secret = extra["client_secret"]
        return SubscriptionCreateOutputSerializer(subscription).data
    return SubscriptionSerializer(subscription).data


class SubscriptionListCreateView(APIView):
    """GET needs a signed-in user; POST follows the purchase rules (guests allowed)."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        operation_id="subscriptions_list",
        summary="The caller's subscriptions, and their linked students'",
        responses={200: SubscriptionSerializer(many=True), **errors(401, 500)},
    )
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise NotFoundError("Sign in to see your subscriptions.")
        return Response(
            [_represent(item) for item in subscription_list_for_user(user=request.user)]
        )

    @extend_schema(
        operation_id="subscription_create",
        summary="Subscribe to a monthly plan with a saved card",
        request=SubscriptionCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: SubscriptionCreateOutputSerializer,
            200: SubscriptionCreateOutputSerializer,
            **errors(
                400,
                401,
                415,
                429,
                500,
                http_409="The student already has an open subscription (`subscription_exists`), "
                "or a request with this `Idempotency-Key` is still being processed "
                "(`checkout_in_progress`).",
                http_402="The card was declined (`payment_declined`).",
                http_502="Stripe rejected the request (`payment_provider_rejected`).",
                http_503="Stripe unavailable (`payment_provider_unavailable`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        # The same buckets as purchase initiation: one buyer, one budget of attempts.
        rate_limit_consume(
            scope="purchase_initiate_ip", identifier=client_network_from_request(request)
        )
        serializer = SubscriptionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        checkout_key = idempotency_key_from_request(request)
        buyer = request.user if request.user.is_authenticated else None
        student_info = serializer.validated_data.get("student_info") or {}
        plan_id = serializer.validated_data["plan_id"]
        subscription_plan_get(plan_id=plan_id)
        buyer_rate_limit_consume(buyer=buyer, student_info=student_info)
        started = subscription_create(
            plan_id=plan_id,
            payment_method_id=serializer.validated_data["payment_method_id"],
            buyer=buyer,
            student_name=student_info.get("name"),
            student_email=student_info.get("email"),
            checkout_key=checkout_key,
        )
        return Response(
            _represent(started.subscription, client_secret=started.client_secret),
            status=status.HTTP_200_OK if started.replayed else status.HTTP_201_CREATED,
        )


def _visible(request: Request, subscription_id) -> Subscription:
    subscription = subscription_get_visible(subscription_id=subscription_id, user=request.user)
    if subscription is None:
        raise NotFoundError("No subscription with this id is visible to you.")
    return subscription


class SubscriptionDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="subscription_detail",
        summary="One subscription with its paid periods",
        responses={200: SubscriptionSerializer, **errors(401, 404, 500)},
    )
    def get(self, request: Request, subscription_id) -> Response:
        return Response(_represent(_visible(request, subscription_id)))


class SubscriptionCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="subscription_cancel",
        summary="Cancel at the period end (staff: `immediately`)",
        request=SubscriptionCancelInputSerializer,
        responses={
            200: SubscriptionSerializer,
            **errors(400, 401, 403, 404, 500, http_409=_NOT_OPEN, http_503=_UNAVAILABLE),
        },
    )
    def post(self, request: Request, subscription_id) -> Response:
        serializer = SubscriptionCancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = subscription_cancel(
            subscription=_visible(request, subscription_id),
            actor=request.user,
            immediately=serializer.validated_data["immediately"],
        )
        return Response(_represent(subscription))


class SubscriptionResumeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="subscription_resume",
        summary="Undo a pending cancel at the period end",
        request=None,
        responses={
            200: SubscriptionSerializer,
            **errors(401, 403, 404, 500, http_409=_NOT_OPEN, http_503=_UNAVAILABLE),
        },
    )
    def post(self, request: Request, subscription_id) -> Response:
        subscription = subscription_resume(
            subscription=_visible(request, subscription_id), actor=request.user
        )
        return Response(_represent(subscription))


class SubscriptionChangePlanView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="subscription_change_plan",
        summary="Change the plan from the next period on (no proration)",
        request=SubscriptionChangePlanInputSerializer,
        responses={
            200: SubscriptionSerializer,
            **errors(400, 401, 403, 404, 500, http_409=_NOT_OPEN, http_503=_UNAVAILABLE),
        },
    )
    def post(self, request: Request, subscription_id) -> Response:
        serializer = SubscriptionChangePlanInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = subscription_change_plan(
            subscription=_visible(request, subscription_id),
            plan_id=serializer.validated_data["plan_id"],
            actor=request.user,
        )
        return Response(_represent(subscription))
