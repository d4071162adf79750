from django.contrib import admin

from finances.admin.display import ReadOnlyAdminMixin
from finances.models import PurchaseRequest, PurchaseRequestEvent


class PurchaseRequestEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PurchaseRequestEvent
    extra = 0
    fields = ["created_at", "kind", "from_status", "to_status", "actor", "purchase_transaction"]
    readonly_fields = fields


@admin.register(PurchaseRequest)
class PurchaseRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A student's requests to a guardian, with every state change and who made it."""

    list_display = [
        "id",
        "student",
        "guardian",
        "plan_name",
        "amount_cents",
        "currency",
        "status",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status"]
    search_fields = ["student__email", "guardian__email", "id"]
    list_select_related = ["student", "guardian"]
    inlines = [PurchaseRequestEventInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]
