import logging
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from core.errors import ApplicationError
from finances.admin.display import euros, hours, pretty_json
from finances.admin.disputes import DisputeInline, OpenDisputeFilter
from finances.admin.permissions import ActionPermissionsMixin
from finances.admin.scaling import LargeTableAdminMixin
from finances.models import HoursLedgerEntry, OperatorAction, PurchaseTransaction, WebhookEventLog
from finances.services.checkouts import ExpiryAction, abandoned_checkouts_expire
from finances.services.operator_actions import RECONCILE_PERMISSION, REFUND_PERMISSION
from finances.services.reconciliation import purchase_reconcile
from finances.services.refunds import purchase_refund_at_stripe

logger = logging.getLogger(__name__)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class LedgerEntryInline(ReadOnlyInline):
    model = HoursLedgerEntry
    fields = ["created_at", "entry_type", "minutes", "amount_cents", "idempotency_key", "note"]


class WebhookEventInline(ReadOnlyInline):
    model = WebhookEventLog
    fields = ["received_at", "stripe_event_id", "event_type", "status", "error_message"]


class OperatorActionInline(ReadOnlyInline):
    model = OperatorAction
    fk_name = "purchase"
    fields = ["created_at", "action", "actor", "reason", "details"]
    show_change_link = False

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may see the purchase sees who refunded or reconciled it.
        return request.user.has_perm("finances.view_purchasetransaction")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RefundForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Why this money goes back (kept in the operator log).",
    )
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        decimal_places=2,
        help_text="In the purchase's currency; empty refunds all that is left. One purchase only.",
    )

    def __init__(self, *args, purchase_count: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.purchase_count = purchase_count

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount is not None and self.purchase_count != 1:
            raise forms.ValidationError("An amount can be given for one purchase only.")
        return amount

    @property
    def amount_cents(self) -> int | None:
        amount = self.cleaned_data["amount"]
        return None if amount is None else int(amount * 100)


@admin.register(PurchaseTransaction)
class PurchaseTransactionAdmin(LargeTableAdminMixin, ActionPermissionsMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "student",
        "plan_name",
        "status",
        "amount_display",
        "refunded_display",
        "hours_display",
        "needs_review",
        "paid_at",
        "expires_at",
    ]
    list_filter = [
        "status",
        "plan_type",
        "needs_review",
        OpenDisputeFilter,
        "livemode",
        "created_at",
    ]
    # Served by purchase_created_id_idx, read backwards.
    ordering = ["-created_at", "-id"]
    # Exact, case-sensitive id lookups and email prefixes, each on an index (scaling.py).
    uuid_search_field = "id"
    exact_search_fields = (
        ("pi_", "stripe_payment_intent_id"),
        ("cus_", "stripe_customer_id"),
        ("ch_", "stripe_charge_id"),
        ("py_", "stripe_charge_id"),
    )
    email_search_fields = ("student__email",)
    list_select_related = ["student"]
    actions = ["reconcile_with_stripe", "refund_in_full", "expire_abandoned_checkouts"]
    inlines = [LedgerEntryInline, DisputeInline, WebhookEventInline, OperatorActionInline]
    fields = [
        "id",
        "status",
        "student",
        "purchased_by",
        "guardian_link",
        "plan",
        "plan_name",
        "plan_type",
        "hours_display",
        "amount_display",
        "refunded_display",
        # What refunds and lost disputes could not take yet (taken when minutes return).
        "refund_shortfall_minutes",
        "dispute_shortfall_minutes",
        "failed_refund_ids",
        "validity_days",
        "billing_period",
        "stripe_payment_intent_id",
        "stripe_customer_id",
        "stripe_charge_id",
        "livemode",
        "failure_reason",
        "needs_review",
        "review_reason",
        "paid_at",
        "expires_at",
        "metadata_display",
        "last_reconciled_at",
        "next_reconciliation_at",
        "created_at",
        "updated_at",
    ]
    editable_fields = {"needs_review", "review_reason"}

    def get_readonly_fields(self, request, obj=None):
        return [field for field in self.fields if field not in self.editable_fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Amount", ordering="amount_cents")
    def amount_display(self, purchase):
        return euros(purchase.amount_cents, purchase.currency)

    @admin.display(description="Refunded", ordering="refunded_amount_cents")
    def refunded_display(self, purchase):
        return euros(purchase.refunded_amount_cents, purchase.currency)

    @admin.display(description="Hours", ordering="minutes")
    def hours_display(self, purchase):
        return hours(purchase.minutes)

    @admin.display(description="Metadata")
    def metadata_display(self, purchase):
        return pretty_json(purchase.metadata)

    def has_reconcile_permission(self, request) -> bool:
        return request.user.has_perm(RECONCILE_PERMISSION)

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    @admin.action(description="Reconcile with Stripe", permissions=["reconcile"])
    def reconcile_with_stripe(self, request, queryset):
        self.permission_require(request, RECONCILE_PERMISSION)
        changed = errors = 0
        for purchase in queryset:
            result = purchase_reconcile(purchase=purchase, actor=request.user)
            if result.error:
                errors += 1
                self.message_user(request, f"{purchase.pk}: {result.error}", messages.ERROR)
            elif result.changed:
                changed += 1
                details = "; ".join(outcome.message for outcome in result.outcomes)
                self.message_user(request, f"{purchase.pk}: {details}", messages.SUCCESS)
        self.message_user(
            request,
            f"Reconciled {queryset.count()} purchases: {changed} changed, {errors} errors.",
            messages.WARNING if errors else messages.INFO,
        )

    @admin.action(description="Refund at Stripe…", permissions=["refund"])
    def refund_in_full(self, request, queryset):
        self.permission_require(request, REFUND_PERMISSION)
        confirmed = request.POST.get("confirmed") == "yes"
        form = RefundForm(request.POST if confirmed else None, purchase_count=queryset.count())
        if not (confirmed and form.is_valid()):
            return TemplateResponse(
                request,
                "admin/finances/refund_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Refund these purchases at Stripe?",
                    "purchases": queryset,
                    "form": form,
                    "action": "refund_in_full",
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        for purchase in queryset:
            try:
                result = purchase_refund_at_stripe(
                    purchase=purchase,
                    amount_cents=form.amount_cents,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as error:
                self.message_user(request, f"{purchase.pk}: {error.message}", messages.ERROR)
                continue
            level = messages.ERROR if result.error else messages.SUCCESS
            self.message_user(
                request, f"{purchase.pk}: refunded ({result.error or 'applied'}).", level
            )
        return None

    @admin.action(description="Expire abandoned checkouts", permissions=["reconcile"])
    def expire_abandoned_checkouts(self, request, queryset):
        """The selected PENDING/FAILED purchases older than CHECKOUT_EXPIRY_HOURS, as
        `manage.py expire_abandoned_checkouts` would treat them; others are skipped."""
        self.permission_require(request, RECONCILE_PERMISSION)
        run = abandoned_checkouts_expire(
            purchase_ids=queryset.values_list("pk", flat=True), actor=request.user
        )
        logger.info(
            "admin.checkouts_expired",
            extra={"user_id": request.user.pk, "purchases": len(run.results)},
        )
        for result in run.results:
            level = messages.ERROR if result.action == ExpiryAction.ERROR else messages.SUCCESS
            self.message_user(request, f"{result.purchase_id}: {result.message}", level)
        skipped = queryset.count() - len(run.results)
        self.message_user(
            request,
            f"Expired {len(run.results) - len(run.errors)} abandoned checkouts, "
            f"{len(run.errors)} errors; {skipped} skipped (not open, or younger than "
            f"{settings.CHECKOUT_EXPIRY_HOURS} h).",
            messages.WARNING if run.errors else messages.INFO,
        )
