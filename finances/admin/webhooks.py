from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path

from finances.admin.display import ReadOnlyAdminMixin, pretty_json
from finances.admin.permissions import ActionPermissionsMixin
from finances.admin.scaling import EventTypeFilter, LargeTableAdminMixin
from finances.models import WebhookEventLog
from finances.selectors.disputes import disputes_open_summary
from finances.selectors.webhooks import webhook_metrics
from finances.services.operator_actions import REPLAY_PERMISSION, WEBHOOK_HEALTH_PERMISSION
from finances.services.webhook_retries import webhook_events_retry
from finances.stripe_redaction import stripe_document_redact


@admin.register(WebhookEventLog)
class WebhookEventLogAdmin(
    LargeTableAdminMixin, ActionPermissionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    change_list_template = "admin/finances/webhookeventlog/change_list.html"
    list_display = [
        "received_at",
        "stripe_event_id",
        "event_type",
        "status",
        "retry_count",
        "delivery_count",
        "processing_duration_ms",
        "purchase_transaction",
    ]
    list_filter = ["status", EventTypeFilter, "source", "livemode", "received_at"]
    list_select_related = ["purchase_transaction"]
    # Served by webhook_received_id_idx, read backwards.
    ordering = ["-received_at", "-id"]
    # Ids are pasted whole: exact, case-sensitive matches use their indexes (scaling.py).
    exact_search_fields = (("evt_", "stripe_event_id"), ("", "stripe_object_id"))
    email_search_fields = ("purchase_transaction__student__email",)
    actions = ["retry_processing"]
    readonly_fields = [
        "stripe_event_id",
        "event_type",
        "status",
        "error_message",
        "source",
        "api_version",
        "livemode",
        "stripe_object_id",
        "purchase_transaction",
        "retry_count",
        "next_retry_at",
        "delivery_count",
        "stripe_created_at",
        "received_at",
        "processing_started_at",
        "processed_at",
        "processing_duration_ms",
        "payload_display",
    ]
    fields = readonly_fields

    @admin.display(description="Payload")
    def payload_display(self, event_log):
        # Stored payloads are redacted when recorded; rows stored before that are
        # redacted here too (and for good by `manage.py redact_stored_payloads`).
        return pretty_json(stripe_document_redact(event_log.payload))

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    @admin.action(description="Retry processing", permissions=["replay"])
    def retry_processing(self, request, queryset):
        self.permission_require(request, REPLAY_PERMISSION)
        run = webhook_events_retry(
            event_ids=[str(pk) for pk in queryset.values_list("pk", flat=True)],
            actor=request.user,
        )
        counts = run.outcome_counts
        self.message_user(
            request,
            f"Retried {len(run.receipts)} events: {counts.get('PROCESSED', 0)} processed, "
            f"{counts.get('IGNORED', 0)} ignored, {counts.get('FAILED', 0)} failed; "
            f"{len(run.skipped)} skipped (finished or busy).",
            messages.ERROR if run.failed else messages.SUCCESS,
        )

    def get_urls(self):
        return [
            path(
                "health/",
                self.admin_site.admin_view(self.health_view),
                name="finances_webhookeventlog_health",
            ),
            *super().get_urls(),
        ]

    def health_view(self, request):
        self.permission_require(request, WEBHOOK_HEALTH_PERMISSION)
        metrics = webhook_metrics(window_hours=24)
        return TemplateResponse(
            request,
            "admin/finances/webhook_health.html",
            {
                **self.admin_site.each_context(request),
                "title": "Webhook health (last 24 hours)",
                "metrics": metrics,
                "stripe_api_version": settings.STRIPE_API_VERSION,
                "disputes": disputes_open_summary(),
                "success_percent": None
                if metrics.success_rate is None
                else round(metrics.success_rate * 100, 2),
                "opts": self.model._meta,
            },
        )
