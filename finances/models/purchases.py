import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone

from finances.models.plans import BillingPeriod, Currency, PricingPlan, hours_expiry
from finances.units import cents_to_amount_string, minutes_to_hours_string


class PurchaseTransaction(models.Model):
    """One attempt to buy a plan, paid through one Stripe PaymentIntent.

    What was sold (hours, price, currency, terms) is copied from the plan when the purchase
    starts, so crediting never depends on the plan as it is later, nor on metadata.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        PROCESSING = "PROCESSING", "Processing"
        COMPLETED = "COMPLETED", "Completed"
        FAILED = "FAILED", "Failed"
        CANCELLED = "CANCELLED", "Cancelled"
        REFUNDED = "REFUNDED", "Refunded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by purchase_student_recent_idx (student first); a second index would only
    # slow every write.
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    purchased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="purchases_made",
        null=True,
        blank=True,
        help_text="Who paid when it is not the student (a guardian).",
    )
    guardian_link = models.ForeignKey(
        "accounts.GuardianStudentLink",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,  # only read when a link is deleted (rare); not worth a write per update
        related_name="purchases",
        help_text="The parent/guardian link that made or approved this purchase.",
    )
    # --- families (docs/families.md) ---
    purchase_request = models.ForeignKey(
        "finances.PurchaseRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,  # covered by purchase_one_live_per_request
        related_name="purchases",
        help_text="The student's request this guardian's payment answers.",
    )
    # --- end families ---
    plan = models.ForeignKey(
        PricingPlan,
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,  # only read when a plan is deleted (refused anyway once bought)
    )
    plan_type = models.CharField(max_length=16, choices=PricingPlan.PlanType.choices)
    plan_name = models.CharField(max_length=100)
    minutes = models.PositiveIntegerField()
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    validity_days = models.PositiveIntegerField(null=True, blank=True)
    billing_period = models.CharField(
        max_length=8, choices=BillingPeriod.choices, null=True, blank=True
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    livemode = models.BooleanField(default=False)
    # Unique through Meta.constraints: a `unique=True` CharField also gets a LIKE index on
    # PostgreSQL that no query uses and every write pays for.
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_charge_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="The charge that paid it (older disputes name only it).",
    )
    client_secret_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the PaymentIntent client secret."
    )
    failure_reason = models.TextField(blank=True)
    refunded_amount_cents = models.PositiveIntegerField(
        default=0, help_text="Total refunded at Stripe so far (cumulative)."
    )
    refunds_reported_at = models.DateTimeField(
        null=True, blank=True, help_text="When Stripe reported the refunded amount recorded."
    )
    failed_refund_ids = models.JSONField(
        default=list, blank=True, help_text="Stripe refunds reported failed or canceled."
    )
    refund_shortfall_minutes = models.PositiveIntegerField(
        default=0,
        help_text="Minutes refunds should have taken back but were already used; taken as "
        "soon as lessons give minutes back.",
    )
    dispute_shortfall_minutes = models.PositiveIntegerField(
        default=0,
        help_text="Minutes lost disputes should have taken but were already used; taken as "
        "soon as lessons give minutes back.",
    )
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the hours stop being usable (set on payment)."
    )
    metadata = models.JSONField(default=dict, blank=True)
    # When Stripe was last asked about this purchase (reconciliation, checkout expiry), and
    # not before when reconciliation asks again: open purchases back off by age.
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    next_reconciliation_at = models.DateTimeField(null=True, blank=True)
    is_test_data = models.BooleanField(
        default=False,
        help_text="Made by test_stripe_webhook: left out of metrics, reconciliation and expiry.",
    )
    # True from the first entry that adds minutes to this lot until the expiry run has
    # dealt with the lot past its expiry; set by the database itself (a trigger on the
    # ledger's inserts of positive minutes, migration 0011_perf_read_paths), so a lot
    # that gets minutes back after it expired is open again for the next run.
    lot_open = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("refund_purchasetransaction", "Can refund purchases at Stripe"),
            ("reconcile_purchasetransaction", "Can reconcile purchases with Stripe"),
        ]
        indexes = [
            models.Index(fields=["student", "-created_at"], name="purchase_student_recent_idx"),
            models.Index(fields=["status", "created_at"], name="purchase_status_created_idx"),
            # The admin's ORDER BY created_at DESC, id DESC (read backwards).
            models.Index(fields=["created_at", "id"], name="purchase_created_id_idx"),
            # The expiry run reads only the open lots that are due.
            models.Index(
                fields=["expires_at"], condition=Q(lot_open=True), name="purchase_open_lot_idx"
            ),
            # Admin search by Customer id.
            models.Index(
                fields=["stripe_customer_id"],
                condition=~Q(stripe_customer_id=""),
                name="purchase_customer_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(needs_review=True),
                name="purchase_needs_review_idx",
            ),
            models.Index(
                fields=["stripe_charge_id"],
                condition=~Q(stripe_charge_id=""),
                name="purchase_charge_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"], name="purchase_payment_intent_unique"
            ),
            # families: a request has at most one payment that is not cancelled (a failed
            # one is cancelled at Stripe before another starts), so it is charged once.
            models.UniqueConstraint(
                fields=["purchase_request"],
                condition=Q(purchase_request__isnull=False) & ~Q(status="CANCELLED"),
                name="purchase_one_live_per_request",
            ),
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0), name="purchase_amount_positive"
            ),
            models.CheckConstraint(condition=Q(minutes__gt=0), name="purchase_minutes_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount_cents__lte=F("amount_cents")),
                name="purchase_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "PENDING",
                        "PROCESSING",
                        "COMPLETED",
                        "FAILED",
                        "CANCELLED",
                        "REFUNDED",
                    ]
                ),
                name="purchase_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["COMPLETED", "REFUNDED"])
                | Q(paid_at__isnull=False, expires_at__isnull=False),
                name="purchase_paid_has_dates",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True)
                | Q(paid_at__isnull=False, expires_at__gt=F("paid_at")),
                name="purchase_expiry_after_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_name} for {self.student_id} ({self.status})"

    @staticmethod
    def plan_snapshot(plan: PricingPlan) -> dict:
        """What is sold, copied from the plan when a purchase starts."""
        return {
            "plan": plan,
            "plan_type": plan.plan_type,
            "plan_name": plan.name,
            "minutes": plan.minutes,
            "amount_cents": plan.price_cents,
            "currency": plan.currency,
            "validity_days": plan.validity_days,
            "billing_period": plan.billing_period,
        }

    @property
    def amount(self) -> str:
        return cents_to_amount_string(self.amount_cents)

    @property
    def hours(self) -> str:
        return minutes_to_hours_string(self.minutes)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def hours_expiry_for(self, paid_at):
        return hours_expiry(
            plan_type=self.plan_type,
            paid_at=paid_at,
            validity_days=self.validity_days,
            billing_period=self.billing_period,
        )

    def clean(self) -> None:
        super().clean()
        errors = {}
        if self.amount_cents is not None and self.amount_cents <= 0:
            errors["amount_cents"] = "The amount must be positive."
        if self.refunded_amount_cents and self.refunded_amount_cents > (self.amount_cents or 0):
            errors["refunded_amount_cents"] = "More refunded than paid."
        is_package = self.plan_type == PricingPlan.PlanType.PACKAGE
        if is_package and not self.validity_days:
            errors["validity_days"] = "A package purchase needs its validity in days."
        if not is_package and not self.billing_period:
            errors["billing_period"] = "A subscription purchase needs a billing period."
        if self.status in (self.Status.COMPLETED, self.Status.REFUNDED):
            if self.paid_at is None or self.expires_at is None:
                errors["expires_at"] = "A paid purchase has a payment time and an expiry."
            elif self.expires_at != self.hours_expiry_for(self.paid_at):
                errors["expires_at"] = (
                    "Packages expire after their validity and subscriptions at the end of "
                    "their billing period, counted from the payment."
                )
        elif self.expires_at is not None and self.paid_at is None:
            errors["expires_at"] = "Hours expire only once paid."
        if errors:
            raise ValidationError(errors)

    def mark_completed(
        self, *, paid_at, from_statuses, customer_id: str = "", charge_id: str = ""
    ) -> bool:
        """Compare-and-set to COMPLETED in one UPDATE; False when the status had moved on.

        The Stripe Customer and Charge ids the payment names are stored in the same UPDATE
        when none is stored yet (older dispute payloads name only the charge).
        Constant SQL rather than the ORM: it runs on every payment (see services/ledger.py).
        """
        expires_at = self.hours_expiry_for(paid_at)
        now = timezone.now()
        stripe_customer_id = self.stripe_customer_id or customer_id
        stripe_charge_id = self.stripe_charge_id or charge_id[:255]
        fields = {field.attname: field for field in type(self)._meta.concrete_fields}
        placeholders = ", ".join(["%s"] * len(from_statuses))
        sql = (
            "UPDATE finances_purchasetransaction SET status = %s, paid_at = %s, "  # noqa: S608
            "expires_at = %s, failure_reason = '', updated_at = %s, lot_open = %s, "
            "stripe_customer_id = %s, stripe_charge_id = %s "
            f"WHERE id = %s AND status IN ({placeholders})"
        )
        parameters = [
            self.Status.COMPLETED,
            fields["paid_at"].get_db_prep_save(paid_at, connection),
            fields["expires_at"].get_db_prep_save(expires_at, connection),
            fields["updated_at"].get_db_prep_save(now, connection),
            True,  # the CREDIT that follows opens the lot; set here, its trigger writes nothing
            stripe_customer_id,
            stripe_charge_id,
            fields["id"].get_db_prep_save(self.pk, connection),
            *from_statuses,
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            updated = cursor.rowcount == 1
        if updated:
            self.status, self.paid_at, self.expires_at, self.updated_at = (
                self.Status.COMPLETED,
                paid_at,
                expires_at,
                now,
            )
            self.failure_reason, self.lot_open = "", True
            self.stripe_customer_id, self.stripe_charge_id = stripe_customer_id, stripe_charge_id
        return updated
