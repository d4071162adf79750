"""Subscriptions in the admin: periods, grants, invoices, status history; cancel and resume
at Stripe with the explicit permission (checked here and again by the service)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from core.errors import ApplicationError
from finances.admin.permissions import ActionPermissionsMixin
from finances.models import (
    StripeCustomer,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatusChange,
)
from finances.services.operator_actions import (
    RECONCILE_PERMISSION,
    operator_permission_require,
)
from finances.services.subscription_reconciliation import (
    SubscriptionReconciliationRun,
    subscription_reconcile,
)
from finances.services.subscriptions import (
    CANCEL_PERMISSION,
    subscription_cancel,
    subscription_resume,
)


def stripe_dashboard_url(object_path: str, *, livemode: bool) -> str:
    prefix = "" if livemode else "test/"
    return f"https://dashboard.stripe.com/{prefix}{object_path}"


def _link(object_path: str, label: str, *, livemode: bool):
    url = stripe_dashboard_url(object_path, livemode=livemode)
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, label)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may see the subscription sees its periods and history.
        return request.user.has_perm("finances.view_subscription")


class SubscriptionPeriodInline(_ReadOnlyInline):
    model = SubscriptionPeriod
    fields = [
        "period_start",
        "period_end",
        "invoice_link",
        "purchase",
        "amount_cents",
        "currency",
        "stripe_payment_intent_id",
        "period_advanced_locally",
        "needs_review",
        "review_reason",
    ]

    @admin.display(description="Invoice")
    def invoice_link(self, period):
        return _link(
            f"invoices/{period.stripe_invoice_id}",
            period.stripe_invoice_id,
            livemode=period.subscription.livemode,
        )


class SubscriptionStatusChangeInline(_ReadOnlyInline):
    model = SubscriptionStatusChange
    fields = [
        "created_at",
        "from_status",
        "to_status",
        "cancel_at_period_end",
        "source",
        "stripe_event_id",
        "actor",
        "note",
    ]


@admin.register(Subscription)
class SubscriptionAdmin(ActionPermissionsMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "student",
        "payer",
        "plan",
        "status",
        "cancel_at_period_end",
        "current_period_end",
        "needs_review",
        "created_at",
    ]
    list_filter = ["status", "cancel_at_period_end", "needs_review", "livemode"]
    search_fields = [
        "id",
        "stripe_subscription_id",
        "stripe_customer_id",
        "student__email",
        "payer__email",
    ]
    list_select_related = ["student", "payer", "plan"]
    inlines = [SubscriptionPeriodInline, SubscriptionStatusChangeInline]
    actions = [
        "cancel_at_period_end_action",
        "resume_action",
        "cancel_now_action",
        "reconcile_action",
    ]
    readonly_fields = ["stripe_links"]

    def get_readonly_fields(self, request, obj=None):
        fields = [field.name for field in self.model._meta.fields]
        return [*fields, "stripe_links"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)

    def has_reconcile_permission(self, request) -> bool:
        return request.user.has_perm(RECONCILE_PERMISSION)

    @admin.action(description="Reconcile with Stripe", permissions=["reconcile"])
    def reconcile_action(self, request, queryset):
        self.permission_require(request, RECONCILE_PERMISSION)
        operator_permission_require(actor=request.user, permission=RECONCILE_PERMISSION)
        run = SubscriptionReconciliationRun()
        for subscription in queryset.exclude(stripe_subscription_id=None)[:50]:
            try:
                subscription_reconcile(subscription=subscription, run=run)
                run.checked += 1
            except ApplicationError as error:
                run.errors.append(f"{subscription.pk}: {error.message}")
        self.message_user(
            request,
            f"{run.checked} subscription(s) re-read; {len(run.granted)} invoice(s) granted.",
            messages.SUCCESS,
        )
        for error in run.errors:
            self.message_user(request, error, messages.ERROR)

    @admin.display(description="Stripe Dashboard")
    def stripe_links(self, subscription):
        links = []
        if subscription.stripe_subscription_id:
            links.append(
                _link(
                    f"subscriptions/{subscription.stripe_subscription_id}",
                    "Subscription",
                    livemode=subscription.livemode,
                )
            )
        if subscription.stripe_customer_id:
            links.append(
                _link(
                    f"customers/{subscription.stripe_customer_id}",
                    "Customer",
                    livemode=subscription.livemode,
                )
            )
        return format_html(" · ".join(["{}"] * len(links)), *links) if links else "—"

    def _act(self, request, queryset, function, done: str, **kwargs) -> None:
        self.permission_require(request, CANCEL_PERMISSION)
        changed = 0
        for subscription in queryset:
            try:
                function(subscription=subscription, actor=request.user, source="admin", **kwargs)
                changed += 1
            except ApplicationError as error:
                self.message_user(request, f"{subscription.pk}: {error.message}", messages.ERROR)
        if changed:
            self.message_user(request, f"{changed} subscription(s) {done}.", messages.SUCCESS)

    @admin.action(description="Cancel at the period end", permissions=["cancel"])
    def cancel_at_period_end_action(self, request, queryset):
        self._act(request, queryset, subscription_cancel, "will cancel at the period end")

    @admin.action(description="Resume (undo a pending cancel)", permissions=["cancel"])
    def resume_action(self, request, queryset):
        self._act(request, queryset, subscription_resume, "resumed")

    @admin.action(description="Cancel now at Stripe", permissions=["cancel"])
    def cancel_now_action(self, request, queryset):
        self._act(request, queryset, subscription_cancel, "cancelled", immediately=True)


@admin.register(StripeCustomer)
class StripeCustomerAdmin(admin.ModelAdmin):
    list_display = ["user", "stripe_customer_id", "livemode", "created_at"]
    search_fields = ["user__email", "stripe_customer_id"]
    readonly_fields = ["user", "stripe_customer_id", "livemode", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
