from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["kind", "object_key", "recipient_email", "status", "attempts", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["object_key", "recipient_email"]
    readonly_fields = [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
