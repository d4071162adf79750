"""A package's payment completed in one statement (PostgreSQL): the webhook's hot path.

`confirm_payment_completion` tries this first. One data-modifying statement

1. locks the purchase the PaymentIntent names (`FOR NO KEY UPDATE`, as
   `purchase_transaction_lock` would: step 1 of the lock order in finances/locks.py) only
   if the plain case holds: a package still open (PENDING, PROCESSING or FAILED: the
   state machine's `_OPEN`, which move to COMPLETED without review) whose amount, currency
   and livemode are what Stripe collected;
2. moves it to COMPLETED (the compare-and-set `mark_completed` does, with the same expiry
   arithmetic: `validity_days` times 24 hours from `paid_at`);
3. appends its CREDIT to the ledger (idempotency key `credit:<purchase>`, as
   `purchase_credit_append`) and moves the balance by the same amounts (step 2 of the
   lock order, taken by the UPDATE);
4. finishes the webhook event row (PROCESSED), when a delivery asked for it, unless it is
   finished already;

and returns the purchase with its plan as it is now, its payer and whether it has
disputes, which the rest of the completion reads. Every other case (not ours, a conflict,
a mismatch, a purchase already COMPLETED or CANCELLED, a subscription's period, SQLite)
matches no row, costs this one statement and goes the general way (lock, state machine,
flags), which decides exactly as before. No guarantee moves: the lock is the same row lock
taken in the same order, the status change is forward-only by its WHERE, and the ledger's
unique key still refuses a second credit.

Three round trips fewer than the general way on every paid package: the lock's SELECT,
the ledger statement and the event's final UPDATE.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from accounts.models import User
from core.prepared_statements import prepared_fetchone
from finances.models import (
    Dispute,
    HoursLedgerEntry,
    PricingPlan,
    PurchaseTransaction,
    StudentAccountBalance,
    WebhookEventLog,
)
from finances.services.ledger import balance_first_row_credit
from finances.stripe_payloads import PaymentIntentData

Status = PurchaseTransaction.Status

# Statuses a success moves to COMPLETED without review (finances/state_machine.py _OPEN;
# tests/finances/test_package_completion.py holds the two together).
OPEN_STATUSES = (Status.PENDING, Status.PROCESSING, Status.FAILED)


@dataclass(frozen=True)
class EventFinish:
    """What the webhook pipeline writes onto its event row when processing succeeds."""

    event_log_id: int
    processing_started_at: datetime | None  # None: keep the row's (a first delivery)
    count_retry: bool
    started: float  # time.perf_counter() when processing started


@dataclass(frozen=True)
class PackageCompletion:
    purchase: PurchaseTransaction  # locked and COMPLETED; plan, payer and has_disputes read
    previous_status: str
    event_finished: bool | None  # None: no event row was asked for


# Every column but the two JSON ones (refund ids and metadata stay deferred: the
# completion never reads them; an access loads them).
_PURCHASE_FIELDS = [
    field
    for field in PurchaseTransaction._meta.concrete_fields
    if field.attname not in ("failed_refund_ids", "metadata")
]


def _in_model_order(model, names: set[str]) -> tuple[str, ...]:
    # Model.from_db takes a subset of the values in the model's field order.
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


_PLAN_FIELDS = _in_model_order(
    PricingPlan, {"id", "is_active", "price_cents", "minutes", "currency", "slug"}
)
_PAYER_FIELDS = _in_model_order(User, {"id", "email", "name", "language", "is_guest"})
_ENTRY_COLUMNS = (
    "student_id, purchase_transaction_id, entry_type, minutes, amount_cents, expires_at, "
    "idempotency_key, stripe_event_id, lesson_reference, note, created_at, recorded_by_id"
)
_BALANCE_TABLE = StudentAccountBalance._meta.db_table
_DISPUTE_PURCHASE_COLUMN = Dispute._meta.get_field("purchase").column

# Names from the models' metadata and constants; every value is a parameter.
_COMPLETE_SQL = f"""
WITH locked AS (
    SELECT id, status AS previous_status FROM finances_purchasetransaction
    WHERE stripe_payment_intent_id = %(payment_intent_id)s
      AND status IN ({", ".join(f"'{status}'" for status in OPEN_STATUSES)})
      AND plan_type = '{PricingPlan.PlanType.PACKAGE}' AND validity_days IS NOT NULL
      AND amount_cents = %(amount_cents)s AND currency = %(currency)s
      AND livemode = %(livemode)s
    FOR NO KEY UPDATE
), purchase AS (
    UPDATE finances_purchasetransaction AS p SET
        status = '{Status.COMPLETED}', paid_at = %(paid_at)s,
        expires_at = %(paid_at)s + make_interval(hours => 24 * p.validity_days),
        failure_reason = '', updated_at = %(now)s, lot_open = true,
        stripe_customer_id = CASE WHEN p.stripe_customer_id = '' THEN %(customer_id)s
                                  ELSE p.stripe_customer_id END,
        stripe_charge_id = CASE WHEN p.stripe_charge_id = '' THEN %(charge_id)s
                                ELSE p.stripe_charge_id END
    FROM locked WHERE p.id = locked.id
    RETURNING {", ".join(f"p.{field.column}" for field in _PURCHASE_FIELDS)},
              locked.previous_status
), entry AS (
    INSERT INTO {HoursLedgerEntry._meta.db_table} ({_ENTRY_COLUMNS})
    SELECT student_id, id, '{HoursLedgerEntry.EntryType.CREDIT}', minutes, amount_cents,
           expires_at, 'credit:' || id::text, %(event_id)s, '', left(plan_name || ' paid', 500),
           %(now)s, NULL
    FROM purchase
    RETURNING student_id, minutes, amount_cents
), balance AS (
    UPDATE {_BALANCE_TABLE} AS b SET
        purchased_minutes = b.purchased_minutes + entry.minutes,
        remaining_minutes = b.remaining_minutes + entry.minutes,
        paid_cents = b.paid_cents + entry.amount_cents,
        updated_at = %(now)s
    FROM entry WHERE b.student_id = entry.student_id
    RETURNING b.student_id
), event AS (
    UPDATE {WebhookEventLog._meta.db_table} AS e SET
        status = '{WebhookEventLog.Status.PROCESSED}', error_message = '',
        next_retry_at = NULL, purchase_transaction_id = purchase.id, processed_at = %(now)s,
        processing_duration_ms = %(duration_ms)s,
        processing_started_at = COALESCE(%(processing_started_at)s, e.processing_started_at),
        retry_count = e.retry_count + %(count_retry)s
    FROM purchase
    WHERE e.id = %(event_log_id)s AND e.status NOT IN ('PROCESSED', 'IGNORED')
    RETURNING e.id
)
SELECT {", ".join(f"purchase.{field.column}" for field in _PURCHASE_FIELDS)},
       purchase.previous_status,
       EXISTS (SELECT 1 FROM balance),
       EXISTS (SELECT 1 FROM event),
       EXISTS (SELECT 1 FROM {Dispute._meta.db_table} AS d
               WHERE d.{_DISPUTE_PURCHASE_COLUMN} = purchase.id),
       {", ".join(f"plan.{name}" for name in _PLAN_FIELDS)},
       {", ".join(f"payer.{name}" for name in _PAYER_FIELDS)}
FROM purchase
LEFT JOIN {PricingPlan._meta.db_table} AS plan ON plan.id = purchase.plan_id
JOIN {User._meta.db_table} AS payer
  ON payer.id = COALESCE(purchase.purchased_by_id, purchase.student_id)
"""  # noqa: S608


def package_purchase_complete(
    *,
    payment_intent: PaymentIntentData,
    paid_at: datetime,
    source_event_id: str,
    event_finish: EventFinish | None,
) -> PackageCompletion | None:
    """The plain case of a package's payment, applied in one statement; None when it is
    not the plain case (nothing written: the caller goes the general way). Runs in the
    caller's transaction."""
    if connection.vendor != "postgresql" or not payment_intent.id:
        return None
    now = timezone.now()
    parameters = {
        "payment_intent_id": payment_intent.id,
        "amount_cents": payment_intent.collected_amount_cents,
        "currency": payment_intent.currency,
        "livemode": payment_intent.livemode,
        "paid_at": paid_at,
        "now": now,
        "customer_id": payment_intent.customer_id or "",
        "charge_id": (payment_intent.latest_charge_id or "")[:255],
        "event_id": source_event_id,
        "event_log_id": event_finish.event_log_id if event_finish else None,
        "processing_started_at": event_finish.processing_started_at if event_finish else None,
        "count_retry": int(event_finish.count_retry) if event_finish else 0,
        "duration_ms": (time.perf_counter() - event_finish.started) * 1000 if event_finish else 0.0,
    }
    row = prepared_fetchone(_COMPLETE_SQL, parameters)
    if row is None:
        return None
    return _completion_from_row(row, event_finish=event_finish, now=now)


def _completion_from_row(row, *, event_finish: EventFinish | None, now) -> PackageCompletion:
    count = len(_PURCHASE_FIELDS)
    purchase = PurchaseTransaction.from_db(
        connection.alias, [field.attname for field in _PURCHASE_FIELDS], row[:count]
    )
    previous_status, balance_updated, event_finished, has_disputes = row[count : count + 4]
    plan_values = row[count + 4 : count + 4 + len(_PLAN_FIELDS)]
    payer_values = row[count + 4 + len(_PLAN_FIELDS) :]
    if plan_values[_PLAN_FIELDS.index("id")] is not None:
        # The plan as it is now, which late_payment_reasons compares with the purchase.
        PurchaseTransaction.plan.field.set_cached_value(
            purchase, PricingPlan.from_db(connection.alias, list(_PLAN_FIELDS), plan_values)
        )
    payer = User.from_db(connection.alias, list(_PAYER_FIELDS), payer_values)
    relation = "purchased_by" if purchase.purchased_by_id else "student"
    getattr(PurchaseTransaction, relation).field.set_cached_value(purchase, payer)
    purchase.has_disputes = has_disputes
    if not balance_updated:  # the student's first need of a balance row
        balance_first_row_credit(
            student_id=purchase.student_id,
            minutes=purchase.minutes,
            amount_cents=purchase.amount_cents,
            now=now,
        )
    return PackageCompletion(
        purchase=purchase,
        previous_status=previous_status,
        event_finished=event_finished if event_finish else None,
    )
