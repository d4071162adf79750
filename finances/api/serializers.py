from django.core.validators import EmailValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.emails import email_normalize
from accounts.names import person_name_normalize
from finances.models import HoursLedgerEntry, PricingPlan, PurchaseTransaction
from finances.units import cents_to_amount_string, minutes_to_hours_string


@extend_schema_field({"type": "string", "format": "decimal", "example": "140.00"})
class AmountField(serializers.Field):
    """Integer cents shown as a decimal string of euros (or the purchase currency)."""

    def to_representation(self, value: int) -> str:
        return cents_to_amount_string(value)


@extend_schema_field({"type": "string", "format": "decimal", "example": "10.00"})
class HoursField(serializers.Field):
    """Integer minutes shown as a decimal string of hours."""

    def to_representation(self, value: int) -> str:
        return minutes_to_hours_string(value)


class PricingPlanSerializer(serializers.ModelSerializer):
    hours = HoursField(source="minutes")
    price = AmountField(source="price_cents")

    class Meta:
        model = PricingPlan
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "plan_type",
            "hours",
            "price",
            "currency",
            "validity_days",
            "billing_period",
            "is_featured",
            "display_order",
        ]


class StudentInfoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    email = serializers.CharField(max_length=254)

    # Normalisation can lengthen text (NFC/NFKC expand some characters), so the column
    # limits are checked again on the normalised value.
    def validate_name(self, value: str) -> str:
        try:
            name = person_name_normalize(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error
        if len(name) > 150:
            raise serializers.ValidationError("A name has at most 150 characters.")
        return name

    def validate_email(self, value: str) -> str:
        email = email_normalize(value)
        if len(email) > 254:
            raise serializers.ValidationError("An email address has at most 254 characters.")
        EmailValidator(message="Enter a valid email address.")(email)
        return email


class PurchaseInitiateInputSerializer(serializers.Serializer):
    plan_id = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    student_info = StudentInfoSerializer(
        required=False, help_text="Required for guests; optional when authenticated."
    )
    payment_method_id = serializers.RegexField(
        r"^(pm|card|src)_[A-Za-z0-9_]{1,200}$",
        required=False,
        help_text="A PaymentMethod from Stripe.js (e.g. `confirmCardSetup`): the server then "
        "confirms the PaymentIntent itself; `payment_intent_status` says whether the "
        "browser must still run `confirmCardPayment` (3-D Secure: `requires_action`).",
    )


class PurchasePlanSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="plan_id")
    name = serializers.CharField(source="plan_name")
    plan_type = serializers.ChoiceField(choices=PricingPlan.PlanType.choices)
    hours = HoursField(source="minutes")
    validity_days = serializers.IntegerField(allow_null=True)
    billing_period = serializers.CharField(allow_null=True)


class PurchaseInitiateOutputSerializer(serializers.Serializer):
    transaction_id = serializers.UUIDField(source="purchase.pk")
    payment_intent_id = serializers.CharField(source="purchase.stripe_payment_intent_id")
    client_secret = serializers.CharField()
    status = serializers.ChoiceField(
        source="purchase.status", choices=PurchaseTransaction.Status.choices
    )
    amount = AmountField(source="purchase.amount_cents")
    currency = serializers.CharField(source="purchase.currency")
    plan = PurchasePlanSummarySerializer(source="purchase")
    payment_intent_status = serializers.CharField(
        help_text="`requires_payment_method` (confirm it in the browser), `requires_action` "
        "(3-D Secure: `confirmCardPayment(client_secret)`), `succeeded`, `processing`."
    )


class SetupIntentOutputSerializer(serializers.Serializer):
    client_secret = serializers.CharField(
        help_text="For Stripe.js `confirmCardSetup`; its `setupIntent.payment_method` is the "
        "`payment_method_id` of the purchase."
    )


class PurchaseSerializer(serializers.ModelSerializer):
    transaction_id = serializers.UUIDField(source="pk")
    amount = AmountField(source="amount_cents")
    amount_refunded = AmountField(source="refunded_amount_cents")
    hours = HoursField(source="minutes")
    payment_intent_id = serializers.CharField(source="stripe_payment_intent_id", allow_null=True)
    is_expired = serializers.BooleanField()

    class Meta:
        model = PurchaseTransaction
        fields = [
            "transaction_id",
            "status",
            "plan_id",
            "plan_name",
            "plan_type",
            "hours",
            "amount",
            "amount_refunded",
            "currency",
            "payment_intent_id",
            "failure_reason",
            "paid_at",
            "expires_at",
            "is_expired",
            "created_at",
            "updated_at",
        ]


class HoursLotSerializer(serializers.Serializer):
    transaction_id = serializers.UUIDField(source="purchase_transaction_id")
    plan_name = serializers.CharField()
    plan_type = serializers.CharField()
    hours_purchased = HoursField(source="purchased_minutes")
    hours_remaining = HoursField(source="unused_minutes")
    paid_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class BalanceTotalsSerializer(serializers.Serializer):
    hours_purchased = HoursField(source="purchased_minutes")
    hours_consumed = HoursField(source="consumed_minutes")
    hours_refunded = HoursField(source="refunded_minutes")
    hours_expired = HoursField(source="expired_minutes")
    hours_on_hold = HoursField(
        source="held_minutes",
        help_text="Unused hours held while a dispute of their payment is open; not available.",
    )
    hours_remaining = HoursField(source="remaining_minutes")


class BalanceSerializer(serializers.Serializer):
    student_id = serializers.IntegerField()
    hours_available = HoursField(
        source="available_minutes", help_text="Unused hours in packages that have not expired."
    )
    minutes_available = serializers.IntegerField(source="available_minutes")
    totals = BalanceTotalsSerializer(help_text="The hours ledger's totals for this student.")
    active_packages = HoursLotSerializer(many=True)
    upcoming_expirations = HoursLotSerializer(many=True)
    expiring_within_days = serializers.IntegerField()


class LedgerEntrySerializer(serializers.Serializer):
    entry_type = serializers.ChoiceField(choices=HoursLedgerEntry.EntryType.choices)
    hours = HoursField(source="minutes", help_text="Signed: negative hours were used.")
    minutes = serializers.IntegerField()
    transaction_id = serializers.UUIDField(source="purchase_transaction_id")
    lesson_reference = serializers.CharField()
    recorded_by = serializers.SerializerMethodField(
        help_text="The name of whoever recorded the lesson or its reversal; null otherwise."
    )
    created_at = serializers.DateTimeField()

    def get_recorded_by(self, entry) -> str | None:
        return entry.recorded_by.name if entry.recorded_by_id else None


class BalanceQuerySerializer(serializers.Serializer):
    expiring_within_days = serializers.IntegerField(min_value=0, max_value=366, default=7)


class PurchaseListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PurchaseTransaction.Status.choices, required=False)


class LessonConsumptionInputSerializer(serializers.Serializer):
    student_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)
    lesson_reference = serializers.CharField(
        max_length=100, help_text="Your lesson's id; recording it again changes nothing."
    )


class LessonReversalInputSerializer(serializers.Serializer):
    student_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    lesson_reference = serializers.CharField(max_length=100)


class LessonConsumptionEntrySerializer(serializers.Serializer):
    transaction_id = serializers.UUIDField(source="purchase_transaction_id")
    hours = HoursField(source="minutes")
    minutes = serializers.IntegerField()


class LessonConsumptionOutputSerializer(serializers.Serializer):
    student_id = serializers.IntegerField()
    lesson_reference = serializers.CharField()
    hours = HoursField(source="minutes")
    minutes = serializers.IntegerField()
    entries = LessonConsumptionEntrySerializer(many=True)
    created = serializers.BooleanField(help_text="False when this lesson was already recorded.")
