from decimal import Decimal

from rest_framework import serializers

from accounts.models import FamilyInvitation, GuardianStudentLink, User
from finances.api.serializers import AmountField, HoursField, StudentInfoSerializer
from finances.models import PurchaseRequest, PurchaseRequestEvent

AMOUNT_INPUT = {"max_digits": 9, "decimal_places": 2, "min_value": Decimal("0.01")}


def amount_to_cents(value: Decimal | None) -> int | None:
    return None if value is None else int(value * 100)


class FamilyPersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "name", "email"]


class NullableAmountField(AmountField):
    def to_representation(self, value):
        return None if value is None else super().to_representation(value)


class FamilyLinkSerializer(serializers.ModelSerializer):
    guardian = FamilyPersonSerializer()
    student = FamilyPersonSerializer()
    is_active = serializers.BooleanField()
    approval_threshold = NullableAmountField(source="approval_threshold_cents", allow_null=True)
    monthly_cap = NullableAmountField(source="monthly_cap_cents", allow_null=True)
    ended_by_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = GuardianStudentLink
        fields = [
            "id",
            "guardian",
            "student",
            "relationship",
            "is_active",
            "created_at",
            "ended_at",
            "ended_by_id",
            "approval_mode",
            "approval_threshold",
            "monthly_cap",
            "rules_updated_at",
        ]


class FamilyLinkRulesInputSerializer(serializers.Serializer):
    approval_mode = serializers.ChoiceField(choices=GuardianStudentLink.ApprovalMode.choices)
    approval_threshold = serializers.DecimalField(
        **AMOUNT_INPUT,
        required=False,
        allow_null=True,
        help_text="Ask above an amount: the highest price the student buys alone.",
    )
    monthly_cap = serializers.DecimalField(
        **AMOUNT_INPUT,
        required=False,
        allow_null=True,
        help_text="The most you pay for this student per calendar month; null: no cap.",
    )


class FamilyInvitationSerializer(serializers.ModelSerializer):
    inviter = FamilyPersonSerializer()
    is_expired = serializers.BooleanField()
    link_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = FamilyInvitation
        fields = [
            "id",
            "inviter",
            "direction",
            "email",
            "relationship",
            "status",
            "is_expired",
            "created_at",
            "expires_at",
            "accepted_at",
            "link_id",
        ]


class FamilyInvitationInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    validate_email = StudentInfoSerializer.validate_email
    direction = serializers.ChoiceField(
        choices=FamilyInvitation.Direction.choices,
        help_text="GUARDIAN_INVITES_STUDENT: you are the guardian; STUDENT_INVITES_GUARDIAN: "
        "you are the student.",
    )
    relationship = serializers.ChoiceField(
        choices=GuardianStudentLink.Relationship.choices, required=False
    )


class FamilyInvitationAcceptInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=500, help_text="From the link's #token= fragment.")
    name = serializers.CharField(
        max_length=150, required=False, help_text="Only to create an account (not signed in)."
    )
    password = serializers.CharField(
        max_length=128, required=False, write_only=True, style={"input_type": "password"}
    )
    validate_name = StudentInfoSerializer.validate_name


class FamilyInvitationAcceptOutputSerializer(serializers.Serializer):
    invitation = FamilyInvitationSerializer()
    link = FamilyLinkSerializer(source="invitation.link")
    account_created = serializers.BooleanField()


class PurchaseRequestEventSerializer(serializers.ModelSerializer):
    actor_id = serializers.IntegerField(allow_null=True)
    transaction_id = serializers.UUIDField(source="purchase_transaction_id", allow_null=True)

    class Meta:
        model = PurchaseRequestEvent
        fields = ["kind", "from_status", "to_status", "actor_id", "transaction_id", "created_at"]


class CurrentPlanPriceSerializer(serializers.Serializer):
    is_active = serializers.BooleanField()
    hours = HoursField(source="minutes")
    price = AmountField(source="price_cents")
    currency = serializers.CharField()


class PurchaseRequestSerializer(serializers.ModelSerializer):
    student = FamilyPersonSerializer()
    guardian = FamilyPersonSerializer()
    hours = HoursField(source="minutes")
    amount = AmountField(source="amount_cents")
    current_plan = CurrentPlanPriceSerializer(
        source="plan", help_text="The plan as sold now; paying a changed one needs confirmation."
    )
    price_changed = serializers.SerializerMethodField()
    events = PurchaseRequestEventSerializer(many=True)

    class Meta:
        model = PurchaseRequest
        fields = [
            "id",
            "status",
            "student",
            "guardian",
            "plan_id",
            "plan_name",
            "plan_type",
            "hours",
            "amount",
            "currency",
            "validity_days",
            "billing_period",
            "current_plan",
            "price_changed",
            "message",
            "decline_message",
            "created_at",
            "expires_at",
            "closed_at",
            "events",
        ]

    def get_price_changed(self, request: PurchaseRequest) -> bool:
        return request.differs_from_plan(request.plan) or not request.plan.is_active


class PurchaseRequestInputSerializer(serializers.Serializer):
    plan_id = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    guardian_id = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        help_text="Which guardian to ask; needed when several are linked to you.",
    )
    message = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PurchaseRequestListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PurchaseRequest.Status.choices, required=False)
    student_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)


class PurchaseRequestDeclineInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PurchaseRequestPayInputSerializer(serializers.Serializer):
    confirm_new_price = serializers.BooleanField(
        default=False, help_text="Pay the plan's current terms when they changed since."
    )
    payment_method_id = serializers.RegexField(
        r"^(pm|card|src)_[A-Za-z0-9_]{1,200}$",
        required=False,
        help_text="A PaymentMethod from Stripe.js (`confirmCardSetup`): the server then "
        "confirms the PaymentIntent itself, as on purchase/initiate; "
        "`payment_intent_status` says whether the browser must still run "
        "`confirmCardPayment` (3-D Secure: `requires_action`).",
    )
