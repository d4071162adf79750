from django.contrib import admin

from finances.admin.display import ReadOnlyAdminMixin, pretty_json
from finances.models import OperatorAction


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "action", "actor_display", "purchase", "event", "reason"]
    list_filter = ["action", ("actor", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["actor__email", "=purchase__id", "=event__stripe_event_id", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "purchase", "event"]
    fields = ["created_at", "action", "actor", "purchase", "event", "reason", "details_display"]
    readonly_fields = fields

    @admin.display(description="Actor", ordering="actor__email")
    def actor_display(self, action):
        return action.actor or "system"

    @admin.display(description="Details")
    def details_display(self, action):
        return pretty_json(action.details)
