from django.contrib import admin

from finances.admin.display import ReadOnlyAdminMixin, euros, hours
from finances.admin.scaling import LargeTableAdminMixin
from finances.models import HoursLedgerEntry, StudentAccountBalance


@admin.register(StudentAccountBalance)
class StudentAccountBalanceAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "student",
        "remaining",
        "purchased",
        "consumed",
        "refunded",
        "expired",
        "paid",
        "refunded_money",
        "updated_at",
    ]
    # Its primary key is the student: Django orders by -pk, on the primary key.
    # One row per student (not per event): Django's own search is fine here.
    search_fields = ["student__email", "student__name"]
    list_select_related = ["student"]

    @admin.display(description="Remaining", ordering="remaining_minutes")
    def remaining(self, balance):
        return hours(balance.remaining_minutes)

    @admin.display(description="Purchased", ordering="purchased_minutes")
    def purchased(self, balance):
        return hours(balance.purchased_minutes)

    @admin.display(description="Consumed", ordering="consumed_minutes")
    def consumed(self, balance):
        return hours(balance.consumed_minutes)

    @admin.display(description="Refunded", ordering="refunded_minutes")
    def refunded(self, balance):
        return hours(balance.refunded_minutes)

    @admin.display(description="Expired", ordering="expired_minutes")
    def expired(self, balance):
        return hours(balance.expired_minutes)

    @admin.display(description="Paid", ordering="paid_cents")
    def paid(self, balance):
        return euros(balance.paid_cents)

    @admin.display(description="Refunded (money)", ordering="refunded_cents")
    def refunded_money(self, balance):
        return euros(balance.refunded_cents)


@admin.register(HoursLedgerEntry)
class HoursLedgerEntryAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "entry_type",
        "student",
        "hours_display",
        "amount_display",
        "purchase_transaction",
        "lesson_reference",
        "recorded_by",
        "stripe_event_id",
    ]
    list_filter = ["entry_type", ("created_at", admin.DateFieldListFilter)]
    # Newest first, served by ledger_created_id_idx read backwards.
    ordering = ["-created_at", "-id"]
    # Exact, case-sensitive id lookups and email prefixes, each on an index (scaling.py).
    exact_search_fields = (
        ("pi_", "purchase_transaction__stripe_payment_intent_id"),
        ("evt_", "stripe_event_id"),
        ("", "idempotency_key"),
        ("", "lesson_reference"),
    )
    email_search_fields = ("student__email",)
    list_select_related = ["student", "purchase_transaction", "recorded_by"]

    @admin.display(description="Hours", ordering="minutes")
    def hours_display(self, entry):
        return hours(entry.minutes)

    @admin.display(description="Amount", ordering="amount_cents")
    def amount_display(self, entry):
        return euros(entry.amount_cents)
