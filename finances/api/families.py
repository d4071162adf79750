"""The family flow's API (docs/families.md): invitations, links and their rules, purchase
requests (ask, list, cancel, decline, pay) and a student's balance for their family."""

from django.contrib.auth import login
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import guardian_links_for_user
from core.client_ip import client_network_from_request
from core.errors import NotFoundError
from core.openapi import errors
from core.rate_limit import rate_limit_consume
from finances.api.family_serializers import (
    FamilyInvitationAcceptInputSerializer,
    FamilyInvitationAcceptOutputSerializer,
    FamilyInvitationInputSerializer,
    FamilyInvitationSerializer,
    FamilyLinkRulesInputSerializer,
    FamilyLinkSerializer,
    PurchaseRequestDeclineInputSerializer,
    PurchaseRequestInputSerializer,
    PurchaseRequestListQuerySerializer,
    PurchaseRequestPayInputSerializer,
    PurchaseRequestSerializer,
    amount_to_cents,
)
from finances.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotency_key_from_request
from finances.api.serializers import (
    BalanceQuerySerializer,
    BalanceSerializer,
    PurchaseInitiateOutputSerializer,
)
from finances.selectors.balances import balance_summary_get
from finances.selectors.families import (
    family_invitation_list_for_user,
    purchase_request_get_visible,
    purchase_request_list_for_user,
    student_visible_to,
)
from finances.services.family_links import (
    family_invitation_accept,
    family_invitation_create,
    family_invitation_revoke,
    guardian_link_end,
    guardian_link_rules_set,
)
from finances.services.family_payments import purchase_request_pay
from finances.services.family_requests import (
    purchase_request_cancel,
    purchase_request_create,
    purchase_request_decline,
)

CLOSED = "The request is no longer pending (`purchase_request_closed`) or has expired "
CLOSED += "(`purchase_request_expired`)."


def _request_out(request_id, user) -> dict:
    found = purchase_request_get_visible(request_id=request_id, user=user)
    return PurchaseRequestSerializer(found).data


class FamilyInvitationListCreateView(ListAPIView):
    """Invitations you sent, and those sent to your email."""

    serializer_class = FamilyInvitationSerializer

    @extend_schema(
        operation_id="family_invitations_list",
        summary="Your family invitations",
        responses={200: FamilyInvitationSerializer(many=True), **errors(401, 404, 500)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return family_invitation_list_for_user(user=self.request.user)

    @extend_schema(
        operation_id="family_invitations_create",
        summary="Invite a student (you are the guardian) or a guardian (you are the student)",
        request=FamilyInvitationInputSerializer,
        responses={201: FamilyInvitationSerializer, **errors(400, 401, 403, 415, 429, 500)},
    )
    def post(self, request: Request) -> Response:
        rate_limit_consume(scope="family_invitation_user", identifier=str(request.user.pk))
        serializer = FamilyInvitationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = family_invitation_create(inviter=request.user, **serializer.validated_data)
        return Response(FamilyInvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class FamilyInvitationAcceptView(APIView):
    """Accepts an invitation with the token of its emailed link (always in the body, never
    in a URL). Signed in: as the account it was sent to. Not signed in: `name` and
    `password` create that account, which is then signed in (session)."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="family_invitations_accept",
        summary="Accept a family invitation",
        request=FamilyInvitationAcceptInputSerializer,
        responses={
            200: FamilyInvitationAcceptOutputSerializer,
            **errors(
                401,
                415,
                429,
                500,
                http_400="Invalid token (`invitation_invalid`) or fields.",
                http_403="Sent to another email address (`invitation_email_mismatch`).",
                http_409="Already used (`invitation_used`), or an account exists for the "
                "email: sign in first (`account_exists`).",
                http_410="Expired (`invitation_expired`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        rate_limit_consume(
            scope="family_invitation_accept_ip", identifier=client_network_from_request(request)
        )
        serializer = FamilyInvitationAcceptInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user if request.user.is_authenticated else None
        invitation = family_invitation_accept(
            token=serializer.validated_data["token"],
            user=user,
            name=serializer.validated_data.get("name"),
            password=serializer.validated_data.get("password"),
        )
        if user is None:
            login(
                request._request,
                invitation.accepted_by,
                backend="django.contrib.auth.backends.ModelBackend",
            )
        body = {"invitation": invitation, "account_created": user is None}
        return Response(FamilyInvitationAcceptOutputSerializer(body).data)


class FamilyInvitationRevokeView(APIView):
    @extend_schema(
        operation_id="family_invitations_revoke",
        summary="Revoke an invitation you sent (a used one stays accepted)",
        request=None,
        responses={200: FamilyInvitationSerializer, **errors(401, 404, 500)},
    )
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = family_invitation_revoke(invitation_id=invitation_id, user=request.user)
        return Response(FamilyInvitationSerializer(invitation).data)


class FamilyLinkListView(ListAPIView):
    """Your family links, as guardian or as student, ended ones included (history)."""

    serializer_class = FamilyLinkSerializer

    @extend_schema(
        operation_id="family_links_list",
        summary="Your family links",
        responses={200: FamilyLinkSerializer(many=True), **errors(401, 404, 500)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return guardian_links_for_user(user_id=self.request.user.pk)


class FamilyLinkEndView(APIView):
    @extend_schema(
        operation_id="family_links_end",
        summary="End a family link (either side); its pending requests are cancelled",
        request=None,
        responses={200: FamilyLinkSerializer, **errors(401, 404, 500)},
    )
    def post(self, request: Request, link_id: int) -> Response:
        link = guardian_link_end(link_id=link_id, ended_by=request.user)
        return Response(FamilyLinkSerializer(link).data)


class FamilyLinkRulesView(APIView):
    @extend_schema(
        operation_id="family_links_rules_set",
        summary="Set when the student must ask, and a monthly cap (the guardian only)",
        request=FamilyLinkRulesInputSerializer,
        responses={200: FamilyLinkSerializer, **errors(400, 401, 403, 404, 415, 500)},
    )
    def put(self, request: Request, link_id: int) -> Response:
        serializer = FamilyLinkRulesInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        link = guardian_link_rules_set(
            link_id=link_id,
            user=request.user,
            approval_mode=data["approval_mode"],
            approval_threshold_cents=amount_to_cents(data.get("approval_threshold")),
            monthly_cap_cents=amount_to_cents(data.get("monthly_cap")),
        )
        return Response(FamilyLinkSerializer(link).data)


class PurchaseRequestListCreateView(ListAPIView):
    """A student's own requests; a guardian's, those addressed to them (each student's
    apart with `student_id`)."""

    serializer_class = PurchaseRequestSerializer

    @extend_schema(
        operation_id="purchase_requests_list",
        summary="Purchase requests (student: mine; guardian: my students')",
        parameters=[PurchaseRequestListQuerySerializer],
        responses={200: PurchaseRequestSerializer(many=True), **errors(400, 401, 404, 500)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = PurchaseRequestListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return purchase_request_list_for_user(
            user=self.request.user, **query.validated_data
        ).prefetch_related("events", "plan")

    @extend_schema(
        operation_id="purchase_requests_create",
        summary="Ask a guardian to pay for a plan",
        request=PurchaseRequestInputSerializer,
        responses={
            201: PurchaseRequestSerializer,
            **errors(
                400,
                401,
                415,
                500,
                http_409="Over the guardian's monthly cap (`monthly_cap_exceeded`), no "
                "guardian linked (`no_guardian_linked`), or already asked "
                "(`purchase_request_exists`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = PurchaseRequestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = purchase_request_create(student=request.user, **serializer.validated_data)
        return Response(_request_out(created.pk, request.user), status=status.HTTP_201_CREATED)


class PurchaseRequestDetailView(APIView):
    @extend_schema(
        operation_id="purchase_requests_retrieve",
        summary="One purchase request (its student, its guardian, staff)",
        responses={200: PurchaseRequestSerializer, **errors(401, 404, 500)},
    )
    def get(self, request: Request, request_id) -> Response:
        found = purchase_request_get_visible(request_id=request_id, user=request.user)
        if found is None:
            raise NotFoundError("No purchase request of yours has this id.")
        return Response(PurchaseRequestSerializer(found).data)


class PurchaseRequestDeclineView(APIView):
    @extend_schema(
        operation_id="purchase_requests_decline",
        summary="Decline a request (the guardian asked); the student is told",
        request=PurchaseRequestDeclineInputSerializer,
        responses={
            200: PurchaseRequestSerializer,
            **errors(400, 401, 403, 404, 415, 500, http_409=CLOSED),
        },
    )
    def post(self, request: Request, request_id) -> Response:
        serializer = PurchaseRequestDeclineInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase_request_decline(
            request_id=request_id,
            user=request.user,
            message=serializer.validated_data.get("message", ""),
        )
        return Response(_request_out(request_id, request.user))


class PurchaseRequestCancelView(APIView):
    @extend_schema(
        operation_id="purchase_requests_cancel",
        summary="Cancel your own request (the student)",
        request=None,
        responses={
            200: PurchaseRequestSerializer,
            **errors(401, 403, 404, 500, http_409=CLOSED),
        },
    )
    def post(self, request: Request, request_id) -> Response:
        purchase_request_cancel(request_id=request_id, user=request.user)
        return Response(_request_out(request_id, request.user))


class PurchaseRequestPayView(APIView):
    """Approve by paying (the guardian asked): the same answer as purchase/initiate, for a
    PaymentIntent on the guardian that credits the student. Again: the same payment."""

    @extend_schema(
        operation_id="purchase_requests_pay",
        summary="Approve and pay a purchase request",
        request=PurchaseRequestPayInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: PurchaseInitiateOutputSerializer,
            **errors(
                400,
                401,
                403,
                404,
                415,
                429,
                500,
                http_402="The payment was declined (`payment_declined`).",
                http_409=CLOSED + " Or: the plan changed (`purchase_request_repriced`: "
                "send confirm_new_price), is withdrawn (`plan_unavailable`), the cap would "
                "be exceeded (`monthly_cap_exceeded`), already paid (`purchase_request_paid`), "
                "a payment is being prepared (`payment_in_progress`).",
                http_502="Stripe rejected the request (`payment_provider_rejected`).",
                http_503="Stripe unavailable (`payment_provider_unavailable`).",
            ),
        },
    )
    def post(self, request: Request, request_id) -> Response:
        rate_limit_consume(scope="purchase_initiate_user", identifier=str(request.user.pk))
        serializer = PurchaseRequestPayInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Accepted (and checked) like the checkout's; a request has one live payment under
        # its lock, so a repeated attempt already answers the same PaymentIntent.
        idempotency_key_from_request(request)
        initiation = purchase_request_pay(
            request_id=request_id,
            payer=request.user,
            confirm_new_price=serializer.validated_data["confirm_new_price"],
            payment_method_id=serializer.validated_data.get("payment_method_id"),
        )
        return Response(
            PurchaseInitiateOutputSerializer(initiation).data, status=status.HTTP_201_CREATED
        )


class StudentBalanceView(APIView):
    """A student's hours, for the student, their active guardians and staff (404 for
    anyone else, as for a student who does not exist)."""

    @extend_schema(
        operation_id="student_balance_retrieve",
        summary="A student's hours balance (the student, their guardians, staff)",
        parameters=[BalanceQuerySerializer],
        responses={200: BalanceSerializer, **errors(400, 401, 404, 500)},
    )
    def get(self, request: Request, student_id: int) -> Response:
        if not student_visible_to(user=request.user, student_id=student_id):
            raise NotFoundError("No student of yours has this id.")
        query = BalanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = balance_summary_get(
            student_id=student_id,
            expiring_within_days=query.validated_data["expiring_within_days"],
        )
        return Response(BalanceSerializer(summary).data)
