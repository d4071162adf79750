import logging

from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from core.errors import ApplicationError
from finances.admin.display import euros, hours, pretty_json
from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.checkouts import ExpiryAction, abandoned_checkouts_expire
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


@admin.register(PurchaseTransaction)
class PurchaseTransactionAdmin(admin.ModelAdmin):
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
    list_filter = ["status", "plan_type", "needs_review", "livemode", "created_at"]
    search_fields = [
        "=id",
        "student__email",
        "purchased_by__email",
        "=stripe_payment_intent_id",
        "=stripe_customer_id",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["student"]
    actions = ["reconcile_with_stripe", "refund_in_full", "expire_abandoned_checkouts"]
    inlines = [LedgerEntryInline, WebhookEventInline]
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
        "validity_days",
        "billing_period",
        "stripe_payment_intent_id",
        "stripe_customer_id",
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

    @admin.action(description="Reconcile with Stripe")
    def reconcile_with_stripe(self, request, queryset):
        changed = errors = 0
        for purchase in queryset:
            result = purchase_reconcile(purchase=purchase)
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

    @admin.action(description="Refund in full at Stripe…")
    def refund_in_full(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/finances/refund_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Refund these purchases in full?",
                    "purchases": queryset,
                    "action": "refund_in_full",
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        for purchase in queryset:
            try:
                result = purchase_refund_at_stripe(purchase=purchase)
            except ApplicationError as error:
                self.message_user(request, f"{purchase.pk}: {error.message}", messages.ERROR)
                continue
            level = messages.ERROR if result.error else messages.SUCCESS
            self.message_user(
                request, f"{purchase.pk}: refunded ({result.error or 'applied'}).", level
            )
        return None

    @admin.action(description="Expire abandoned checkouts")
    def expire_abandoned_checkouts(self, request, queryset):
        """The selected PENDING/FAILED purchases older than CHECKOUT_EXPIRY_HOURS, as
        `manage.py expire_abandoned_checkouts` would treat them; others are skipped."""
        if not request.user.has_perm("finances.reconcile_purchasetransaction"):
            self.message_user(
                request, "You may not reconcile purchases with Stripe.", messages.ERROR
            )
            return
        run = abandoned_checkouts_expire(purchase_ids=queryset.values_list("pk", flat=True))
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
