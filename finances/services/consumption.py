"""Lessons use hours: debits drawn from the packages that expire soonest first.

Idempotent per (student, lesson reference): recording the same lesson again returns the
first record; a cancelled lesson is reversed onto the very packages it was drawn from.
The student's balance row is locked before anything is read, so two lessons of one
student are debited one after the other and can never overdraw.

Who may: staff for anyone, a teacher only for students assigned to them
(`accounts.TeacherStudentAssignment`, active). Every debit and reversal records the
acting user (`HoursLedgerEntry.recorded_by`).
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import teacher_student_assignment_active_exists
from core.errors import ApplicationError, ConflictError, NotFoundError
from finances.locks import purchase_transactions_lock, student_balance_lock
from finances.models import HoursLedgerEntry
from finances.selectors.balances import hours_lots_active
from finances.services.expiry import hours_lot_expire
from finances.services.ledger import ledger_entry_append
from finances.services.shortfalls import lot_shortfalls_settle
from finances.units import minutes_to_hours_string

logger = logging.getLogger(__name__)
EntryType = HoursLedgerEntry.EntryType
MAX_LESSON_MINUTES = 24 * 60
MAX_LESSON_REFERENCE_LENGTH = 100


class InsufficientHours(ApplicationError):
    default_code = "insufficient_hours"
    default_status_code = 409


class StudentNotFound(NotFoundError):
    default_code = "student_not_found"
    default_message = "No student whose lessons you may record has this id."


def _actor_check(*, actor: User, student_id: int) -> None:
    """Refuses an actor who may not act on this student's lessons.

    An unknown id and a student not assigned to the teacher are the same error, decided
    by one query that does not depend on whether the account exists: a teacher cannot
    use this to find out which ids are accounts.
    """
    if actor.is_staff:
        allowed = User.objects.filter(pk=student_id).exists()
    elif actor.is_teacher:
        allowed = teacher_student_assignment_active_exists(
            teacher_id=actor.pk, student_id=student_id
        )
    else:
        raise ApplicationError(
            code="permission_denied",
            message="Only staff and teachers may do this.",
            status_code=403,
        )
    if not allowed:
        raise StudentNotFound()


@dataclass(frozen=True)
class LessonConsumption:
    student_id: int
    lesson_reference: str
    minutes: int
    entries: list[HoursLedgerEntry]
    created: bool


def _lesson_entries(*, student_id: int, lesson_reference: str, entry_type: str):
    return list(
        HoursLedgerEntry.objects.filter(
            student_id=student_id, lesson_reference=lesson_reference, entry_type=entry_type
        ).order_by("id")
    )


def lesson_consumption_record(
    *,
    actor: User,
    student_id: int,
    minutes: int,
    lesson_reference: str,
    now: datetime | None = None,
) -> LessonConsumption:
    if not 0 < minutes <= MAX_LESSON_MINUTES:
        raise ApplicationError(
            code="validation_error",
            message="The request has invalid fields.",
            fields={"minutes": [f"A lesson lasts between 1 and {MAX_LESSON_MINUTES} minutes."]},
        )
    if not 0 < len(lesson_reference) <= MAX_LESSON_REFERENCE_LENGTH:
        raise ApplicationError(
            code="validation_error",
            message="The request has invalid fields.",
            fields={"lesson_reference": ["Between 1 and 100 characters."]},
        )
    _actor_check(actor=actor, student_id=student_id)
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        student_balance_lock(student_id=student_id)
        existing = _lesson_entries(
            student_id=student_id, lesson_reference=lesson_reference, entry_type=EntryType.DEBIT
        )
        if existing:
            if _lesson_entries(
                student_id=student_id,
                lesson_reference=lesson_reference,
                entry_type=EntryType.DEBIT_REVERSAL,
            ):
                raise ConflictError(
                    f"Lesson {lesson_reference} was recorded and then reversed; record the "
                    "rescheduled lesson under a new reference.",
                    code="lesson_reference_reversed",
                )
            recorded_minutes = -sum(entry.minutes for entry in existing)
            if recorded_minutes != minutes:
                raise ConflictError(
                    f"Lesson {lesson_reference} was already recorded with {recorded_minutes} "
                    "minutes.",
                    code="lesson_reference_conflict",
                )
            return LessonConsumption(student_id, lesson_reference, minutes, existing, created=False)

        lots = hours_lots_active(student_id=student_id, now=now)
        available = sum(lot.unused_minutes for lot in lots)
        if available < minutes:
            raise InsufficientHours(
                f"The lesson needs {minutes_to_hours_string(minutes)} h but only "
                f"{minutes_to_hours_string(available)} h are available."
            )
        entries, still_needed = [], minutes
        for lot in lots:
            if still_needed == 0:
                break
            taken = min(lot.unused_minutes, still_needed)
            entries.append(
                ledger_entry_append(
                    student_id=student_id,
                    purchase_transaction_id=lot.purchase_transaction_id,
                    entry_type=EntryType.DEBIT,
                    minutes=-taken,
                    idempotency_key=f"lesson:{student_id}:{lesson_reference}:{lot.purchase_transaction_id}",
                    lesson_reference=lesson_reference,
                    note=f"Lesson {lesson_reference}",
                    recorded_by_id=actor.pk,
                )
            )
            still_needed -= taken
    logger.info(
        "consumption.recorded",
        extra={
            "student_id": student_id,
            "lesson_reference": lesson_reference,
            "minutes": minutes,
            "recorded_by_id": actor.pk,
        },
    )
    return LessonConsumption(student_id, lesson_reference, minutes, entries, created=True)


def lesson_consumption_reverse(
    *, actor: User, student_id: int, lesson_reference: str, now: datetime | None = None
) -> LessonConsumption:
    """Gives a cancelled lesson's minutes back to the packages they came from. Minutes of
    a package that has expired meanwhile expire again at once."""
    _actor_check(actor=actor, student_id=student_id)
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        # The lots first, then the balance (finances/locks.py): a reversal may settle a
        # lot's shortfall. A lesson's debits never change once written, so reading their
        # lots before the locks is safe.
        lot_ids = {
            entry.purchase_transaction_id
            for entry in _lesson_entries(
                student_id=student_id, lesson_reference=lesson_reference, entry_type=EntryType.DEBIT
            )
        }
        lots = purchase_transactions_lock(transaction_ids=lot_ids)
        student_balance_lock(student_id=student_id)
        debits = _lesson_entries(
            student_id=student_id, lesson_reference=lesson_reference, entry_type=EntryType.DEBIT
        )
        if not debits:
            raise NotFoundError(f"No lesson {lesson_reference} was recorded for this student.")
        minutes = -sum(entry.minutes for entry in debits)
        reversals = _lesson_entries(
            student_id=student_id,
            lesson_reference=lesson_reference,
            entry_type=EntryType.DEBIT_REVERSAL,
        )
        if reversals:
            return LessonConsumption(
                student_id, lesson_reference, minutes, reversals, created=False
            )
        for debit in debits:
            lot = lots[debit.purchase_transaction_id]
            reversals.append(
                ledger_entry_append(
                    student_id=student_id,
                    purchase_transaction_id=lot.pk,
                    entry_type=EntryType.DEBIT_REVERSAL,
                    minutes=-debit.minutes,
                    idempotency_key=f"lesson-reversal:{student_id}:{lesson_reference}:{lot.pk}",
                    lesson_reference=lesson_reference,
                    note=f"Lesson {lesson_reference} cancelled",
                    recorded_by_id=actor.pk,
                )
            )
            # What a refund or a lost dispute could not take comes out first, then an
            # expired lot expires what is left.
            lot_shortfalls_settle(purchase=lot, note=f"by cancelled lesson {lesson_reference}")
            if lot.expires_at is not None and lot.expires_at <= now:
                hours_lot_expire(
                    purchase=lot, note=f"Returned by cancelled lesson {lesson_reference}"
                )
    logger.info(
        "consumption.reversed",
        extra={
            "student_id": student_id,
            "lesson_reference": lesson_reference,
            "minutes": minutes,
            "recorded_by_id": actor.pk,
        },
    )
    return LessonConsumption(student_id, lesson_reference, minutes, reversals, created=True)
