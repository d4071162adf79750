from django.contrib import admin

from finances.admin.display import ReadOnlyAdminMixin, hours
from finances.models import Dispute


class OpenDisputeFilter(admin.SimpleListFilter):
    """Purchases list: those with a dispute Stripe has not decided yet."""

    title = "disputes"
    parameter_name = "dispute"

    def lookups(self, request, model_admin):
        return [("open", "Open dispute"), ("any", "Any dispute")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(disputes__outcome=Dispute.Outcome.OPEN).distinct()
        if self.value() == "any":
            return queryset.filter(disputes__isnull=False).distinct()
        return queryset


class DisputeInline(admin.TabularInline):
    model = Dispute
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "stripe_dispute_id",
        "stripe_status",
        "outcome",
        "amount_cents",
        "held_minutes",
        "lost_minutes",
        "evidence_due_by",
        "reason",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: disputes change only through Stripe's events (services/disputes.py)."""

    list_display = [
        "stripe_dispute_id",
        "purchase",
        "amount_cents",
        "currency",
        "stripe_status",
        "outcome",
        "held_display",
        "lost_minutes",
        "evidence_due_by",
        "created_at",
    ]
    list_filter = ["outcome", "stripe_status", "currency"]
    search_fields = ["=stripe_dispute_id", "=stripe_charge_id", "=purchase__id"]
    list_select_related = ["purchase"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="Held")
    def held_display(self, dispute):
        return hours(dispute.held_minutes)
