from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from finances.units import cents_to_amount_string, minutes_to_hours_string


class StudentAccountBalance(models.Model):
    """A student's hours and money totals: a cache of the ledger, kept equal to it.

    Only the ledger services change it, under its row lock, in the transaction that
    appends the ledger entry. `verify_ledger` proves the equality.
    """

    # The totals the ledger determines; each equals a sum over the student's entries.
    TOTAL_FIELDS = (
        "purchased_minutes",
        "consumed_minutes",
        "refunded_minutes",
        "expired_minutes",
        "held_minutes",
        "remaining_minutes",
        "paid_cents",
        "refunded_cents",
    )

    student = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="account_balance",
    )
    purchased_minutes = models.IntegerField(default=0)
    consumed_minutes = models.IntegerField(default=0)
    refunded_minutes = models.IntegerField(default=0)
    expired_minutes = models.IntegerField(default=0)
    held_minutes = models.IntegerField(
        default=0, help_text="Unused minutes on hold while a dispute of their payment is open."
    )
    remaining_minutes = models.IntegerField(default=0)
    paid_cents = models.IntegerField(default=0)
    refunded_cents = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    purchased_minutes__gte=0,
                    consumed_minutes__gte=0,
                    refunded_minutes__gte=0,
                    expired_minutes__gte=0,
                    held_minutes__gte=0,
                    remaining_minutes__gte=0,
                    paid_cents__gte=0,
                    refunded_cents__gte=0,
                ),
                name="balance_totals_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(
                    remaining_minutes=F("purchased_minutes")
                    - F("consumed_minutes")
                    - F("refunded_minutes")
                    - F("expired_minutes")
                    - F("held_minutes")
                ),
                name="balance_remaining_is_consistent",
            ),
            models.CheckConstraint(
                condition=Q(refunded_cents__lte=F("paid_cents")), name="balance_refund_within_paid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student_id}: {self.remaining_hours} h"

    @property
    def remaining_hours(self) -> str:
        return minutes_to_hours_string(self.remaining_minutes)

    @property
    def paid(self) -> str:
        return cents_to_amount_string(self.paid_cents)


class HoursLedgerEntry(models.Model):
    """An append-only movement of a student's hours, drawn on one purchased lot.

    Every entry names the purchase (the lot) its minutes belong to, so a lot's unused
    minutes are the sum of its entries. `idempotency_key` makes each movement happen once
    however often the event behind it is delivered.
    """

    class EntryType(models.TextChoices):
        CREDIT = "CREDIT", "Credit (payment)"
        DEBIT = "DEBIT", "Debit (lesson)"
        DEBIT_REVERSAL = "DEBIT_REVERSAL", "Debit reversal (lesson cancelled)"
        REFUND_REVERSAL = "REFUND_REVERSAL", "Refund reversal"
        EXPIRY = "EXPIRY", "Expiry"
        # A refund that failed at Stripe gives back what it took (positive minutes, cents).
        REFUND_FAILURE = "REFUND_FAILURE", "Refund failure (refund undone)"
        # An open dispute holds the lot's unused minutes; won releases them, lost makes
        # them final (counted with refunds in the balance totals).
        DISPUTE_HOLD = "DISPUTE_HOLD", "Dispute hold"
        DISPUTE_RELEASE = "DISPUTE_RELEASE", "Dispute hold released"
        DISPUTE_LOSS = "DISPUTE_LOSS", "Dispute lost"

    # Indexed by ledger_student_created_idx (student first).
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        db_index=False,
    )
    purchase_transaction = models.ForeignKey(
        "finances.PurchaseTransaction", on_delete=models.PROTECT, related_name="ledger_entries"
    )
    entry_type = models.CharField(max_length=16, choices=EntryType.choices)
    minutes = models.IntegerField(help_text="Signed: positive adds hours, negative removes them.")
    amount_cents = models.IntegerField(default=0, help_text="Signed money movement, in cents.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Credits: lot expiry.")
    idempotency_key = models.CharField(max_length=200)  # unique: see Meta.constraints
    stripe_event_id = models.CharField(max_length=255, blank=True)
    lesson_reference = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Who recorded a lesson (DEBIT) or its reversal; empty for what Stripe or jobs cause.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "hours ledger entries"
        indexes = [
            models.Index(fields=["student", "created_at"], name="ledger_student_created_idx"),
            # The admin's ORDER BY created_at DESC, id DESC (read backwards).
            models.Index(fields=["created_at", "id"], name="ledger_created_id_idx"),
            models.Index(
                fields=["lesson_reference"],
                condition=~Q(lesson_reference=""),
                name="ledger_lesson_idx",
            ),
            # Admin search by the Stripe event an entry came from.
            models.Index(
                fields=["stripe_event_id"],
                condition=~Q(stripe_event_id=""),
                name="ledger_stripe_event_idx",
            ),
        ]
        constraints = [
            # A constraint rather than unique=True: no unused LIKE index on PostgreSQL.
            models.UniqueConstraint(
                fields=["idempotency_key"], name="ledger_idempotency_key_unique"
            ),
            models.UniqueConstraint(
                fields=["purchase_transaction"],
                condition=Q(entry_type="CREDIT"),
                name="ledger_one_credit_per_purchase",
            ),
            models.CheckConstraint(
                condition=(
                    Q(entry_type="CREDIT", minutes__gt=0, amount_cents__gt=0)
                    | Q(entry_type="DEBIT", minutes__lt=0, amount_cents=0)
                    | Q(entry_type="DEBIT_REVERSAL", minutes__gt=0, amount_cents=0)
                    | Q(entry_type="REFUND_REVERSAL", minutes__lte=0, amount_cents__lte=0)
                    | Q(entry_type="EXPIRY", minutes__lt=0, amount_cents=0)
                    | Q(entry_type="REFUND_FAILURE", minutes__gte=0, amount_cents__gt=0)
                    | Q(entry_type="DISPUTE_HOLD", minutes__lt=0, amount_cents=0)
                    | Q(entry_type="DISPUTE_RELEASE", minutes__gt=0, amount_cents=0)
                    | Q(entry_type="DISPUTE_LOSS", minutes__lte=0, amount_cents__lte=0)
                ),
                name="ledger_entry_signs_match_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry_type} {self.minutes:+d} min ({self.idempotency_key})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only.")

    @property
    def hours(self) -> str:
        return minutes_to_hours_string(self.minutes)
