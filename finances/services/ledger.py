"""The only code that writes hours ledger entries and changes balances.

Each append inserts one entry and moves the balance totals by the same amounts, in the
caller's transaction. The UPDATE takes the balance row lock; callers that must read
the balance or a lot before deciding (consumption, refunds, expiry) lock it first with
`student_balance_lock`.
"""

from datetime import datetime

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance

EntryType = HoursLedgerEntry.EntryType


_BALANCE_COLUMNS = StudentAccountBalance.TOTAL_FIELDS
_ENTRY_COLUMNS = (
    "student_id",
    "purchase_transaction_id",
    "entry_type",
    "minutes",
    "amount_cents",
    "expires_at",
    "idempotency_key",
    "stripe_event_id",
    "lesson_reference",
    "note",
    "created_at",
    "recorded_by_id",
)
# Constant SQL (values are parameters). Written by hand because this runs once or more per
# payment, lesson and refund, and compiling ORM queries was the largest cost of a webhook.
_INSERT_ENTRY_SQL = (
    f"INSERT INTO finances_hoursledgerentry ({', '.join(_ENTRY_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(_ENTRY_COLUMNS))}) RETURNING id"
)
_UPDATE_BALANCE_SQL = (
    "UPDATE finances_studentaccountbalance SET "  # noqa: S608
    + ", ".join(f"{column} = {column} + %s" for column in _BALANCE_COLUMNS)
    + ", updated_at = %s WHERE student_id = %s"
)
# PostgreSQL: the entry and the balance in one statement; RETURNING is empty when the
# student has no balance row yet.
_APPEND_SQL_POSTGRESQL = (
    f"WITH entry AS ({_INSERT_ENTRY_SQL}) {_UPDATE_BALANCE_SQL} "  # noqa: S608
    "RETURNING (SELECT id FROM entry)"
)


def _balance_changes(*, entry_type: str, minutes: int, amount_cents: int) -> dict[str, int]:
    if entry_type == EntryType.CREDIT:
        changes = {"purchased_minutes": minutes, "paid_cents": amount_cents}
    elif entry_type in (EntryType.DEBIT, EntryType.DEBIT_REVERSAL):
        changes = {"consumed_minutes": -minutes}
    elif entry_type in (
        EntryType.REFUND_REVERSAL,
        EntryType.REFUND_FAILURE,
        EntryType.DISPUTE_LOSS,
    ):
        # A lost dispute is money that left, like a refund; a failed refund undoes one.
        changes = {"refunded_minutes": -minutes, "refunded_cents": -amount_cents}
    elif entry_type in (EntryType.DISPUTE_HOLD, EntryType.DISPUTE_RELEASE):
        changes = {"held_minutes": -minutes}
    elif entry_type == EntryType.EXPIRY:
        changes = {"expired_minutes": -minutes}
    else:
        raise ValueError(f"Unknown ledger entry type {entry_type}")
    return {**dict.fromkeys(_BALANCE_COLUMNS, 0), **changes, "remaining_minutes": minutes}


def _balance_parameters(
    *, student_id: int, entry_type: str, minutes: int, amount_cents: int, now: datetime
) -> list:
    """The parameters of _UPDATE_BALANCE_SQL for one entry."""
    changes = _balance_changes(entry_type=entry_type, minutes=minutes, amount_cents=amount_cents)
    return [
        *(changes[column] for column in _BALANCE_COLUMNS),
        StudentAccountBalance._meta.get_field("updated_at").get_db_prep_save(now, connection),
        student_id,
    ]


def _balance_row_create_and_move(*, student_id: int, balance_parameters: list) -> None:
    StudentAccountBalance.objects.get_or_create(student_id=student_id)
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_BALANCE_SQL, balance_parameters)


def balance_first_row_credit(
    *, student_id: int, minutes: int, amount_cents: int, now: datetime
) -> None:
    """A CREDIT already in the ledger whose student had no balance row to move (a
    statement that updated no balance): the row is created and moved by the credit, as
    ledger_entry_append does."""
    _balance_row_create_and_move(
        student_id=student_id,
        balance_parameters=_balance_parameters(
            student_id=student_id,
            entry_type=EntryType.CREDIT,
            minutes=minutes,
            amount_cents=amount_cents,
            now=now,
        ),
    )


def ledger_entry_append(
    *,
    student_id: int,
    purchase_transaction_id,
    entry_type: str,
    minutes: int,
    idempotency_key: str,
    amount_cents: int = 0,
    expires_at: datetime | None = None,
    stripe_event_id: str = "",
    lesson_reference: str = "",
    note: str = "",
    recorded_by_id: int | None = None,
) -> HoursLedgerEntry:
    if not connection.in_atomic_block:
        raise RuntimeError("Ledger entries are written inside the transaction that causes them.")
    now = timezone.now()
    entry = HoursLedgerEntry(
        student_id=student_id,
        purchase_transaction_id=purchase_transaction_id,
        entry_type=entry_type,
        minutes=minutes,
        amount_cents=amount_cents,
        expires_at=expires_at,
        idempotency_key=idempotency_key,
        stripe_event_id=stripe_event_id,
        lesson_reference=lesson_reference,
        note=note[:500],
        created_at=now,
        recorded_by_id=recorded_by_id,
    )
    fields = {field.attname: field for field in HoursLedgerEntry._meta.concrete_fields}
    entry_parameters = [
        fields[column].get_db_prep_save(getattr(entry, column), connection)
        for column in _ENTRY_COLUMNS
    ]
    balance_parameters = _balance_parameters(
        student_id=student_id,
        entry_type=entry_type,
        minutes=minutes,
        amount_cents=amount_cents,
        now=now,
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_APPEND_SQL_POSTGRESQL, [*entry_parameters, *balance_parameters])
            row = cursor.fetchone()
            balance_updated = row is not None
            entry.pk = row[0] if row else None
        else:
            cursor.execute(_INSERT_ENTRY_SQL, entry_parameters)
            entry.pk = cursor.fetchone()[0]
            cursor.execute(_UPDATE_BALANCE_SQL, balance_parameters)
            balance_updated = cursor.rowcount == 1
    if not balance_updated:  # the student's first need of a balance
        _balance_row_create_and_move(student_id=student_id, balance_parameters=balance_parameters)
    if entry.pk is None:
        entry.pk = HoursLedgerEntry.objects.values_list("pk", flat=True).get(
            idempotency_key=idempotency_key
        )
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


REFUND_TYPES = (EntryType.REFUND_REVERSAL, EntryType.REFUND_FAILURE)
HOLD_TYPES = (EntryType.DISPUTE_HOLD, EntryType.DISPUTE_RELEASE)


def purchase_credit_append(
    *, purchase: PurchaseTransaction, source_event_id: str, note: str
) -> HoursLedgerEntry:
    """The one CREDIT of a paid purchase (a package, or one paid subscription period): its
    minutes and amount, expiring with the purchase, idempotent per purchase."""
    return ledger_entry_append(
        student_id=purchase.student_id,
        purchase_transaction_id=purchase.pk,
        entry_type=HoursLedgerEntry.EntryType.CREDIT,
        minutes=purchase.minutes,
        amount_cents=purchase.amount_cents,
        expires_at=purchase.expires_at,
        idempotency_key=f"credit:{purchase.pk}",
        stripe_event_id=source_event_id,
        note=note,
    )


def lot_totals(*, purchase_transaction_id) -> dict[str, int]:
    """Unused minutes of a lot, what refunds (net of failed ones), dispute holds and lost
    disputes have taken from it, and how many entries it has (which names its state in
    idempotency keys)."""
    totals = HoursLedgerEntry.objects.filter(
        purchase_transaction_id=purchase_transaction_id
    ).aggregate(
        entries=Count("id"),
        unused_minutes=Sum("minutes"),
        refund_minutes=Sum("minutes", filter=Q(entry_type__in=REFUND_TYPES)),
        refund_cents=Sum("amount_cents", filter=Q(entry_type__in=REFUND_TYPES)),
        held_minutes=Sum("minutes", filter=Q(entry_type__in=HOLD_TYPES)),
        lost_minutes=Sum("minutes", filter=Q(entry_type=EntryType.DISPUTE_LOSS)),
        lost_cents=Sum("amount_cents", filter=Q(entry_type=EntryType.DISPUTE_LOSS)),
    )
    return {
        "entries": totals["entries"],
        "unused_minutes": totals["unused_minutes"] or 0,
        "refunded_minutes": -(totals["refund_minutes"] or 0),
        "refunded_cents": -(totals["refund_cents"] or 0),
        "held_minutes": -(totals["held_minutes"] or 0),
        "dispute_lost_minutes": -(totals["lost_minutes"] or 0),
        "dispute_lost_cents": -(totals["lost_cents"] or 0),
    }
