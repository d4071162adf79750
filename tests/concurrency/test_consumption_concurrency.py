"""Lessons of one student recorded at the same time on PostgreSQL: never an overdraft,
never a lesson debited twice."""

import pytest
from django.db.models import Sum

from finances.models import HoursLedgerEntry
from finances.services.consumption import (
    InsufficientHours,
    lesson_consumption_record,
    lesson_consumption_reverse,
)
from tests.factories import UserFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import (
    assert_ledger_clean,
    balance_of,
    paid_package,
    run_in_threads,
    unused_minutes,
)

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

EntryType = HoursLedgerEntry.EntryType
THREADS = 12


def _record(student_id: int, minutes: int, reference: str):
    actor = lesson_recorder()  # created before the threads start

    def record():
        return lesson_consumption_record(
            actor=actor,
            student_id=student_id,
            minutes=minutes,
            lesson_reference=reference,
        )

    return record


def test_many_lessons_at_once_never_debit_more_than_the_student_has():
    student = UserFactory()
    first = paid_package(student, minutes=120, price_cents=3500, validity_days=30)
    second = paid_package(student, minutes=180, price_cents=5000, validity_days=60)
    available = 300

    results = run_in_threads(
        [_record(student.pk, 45, f"lesson-{index}") for index in range(THREADS)]
    )

    unexpected = [
        r.error for r in results if r.error and not isinstance(r.error, InsufficientHours)
    ]
    assert unexpected == []
    recorded = [result.value for result in results if result.error is None]
    refused = [result.error for result in results if result.error is not None]
    # One after the other, 300 minutes cover exactly six 45-minute lessons.
    assert len(recorded) == available // 45 == 6
    assert len(refused) == THREADS - 6
    assert all(consumption.created for consumption in recorded)
    debited = -HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).aggregate(
        total=Sum("minutes")
    )["total"]
    assert debited == 6 * 45 <= available
    assert {
        entry.lesson_reference
        for entry in HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT)
    } == {consumption.lesson_reference for consumption in recorded}
    assert unused_minutes(first) == 0
    assert unused_minutes(second) == 30
    balance = balance_of(student)
    assert (balance.consumed_minutes, balance.remaining_minutes) == (270, 30)
    assert_ledger_clean()


def test_the_same_lesson_recorded_from_many_threads_is_debited_once():
    student = UserFactory()
    package = paid_package(student, minutes=600, price_cents=14000)

    results = run_in_threads([_record(student.pk, 90, "lesson-1")] * THREADS)

    assert [result.error for result in results] == [None] * THREADS
    consumptions = [result.value for result in results]
    assert sum(consumption.created for consumption in consumptions) == 1
    debits = HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT)
    assert list(debits.values_list("purchase_transaction_id", "minutes")) == [(package.pk, -90)]
    assert {tuple(entry.pk for entry in c.entries) for c in consumptions} == {(debits.get().pk,)}
    assert balance_of(student).consumed_minutes == 90
    assert_ledger_clean()


def test_the_same_reversal_from_many_threads_gives_the_hours_back_once():
    student = UserFactory()
    package = paid_package(student, minutes=600, price_cents=14000)
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=90, lesson_reference="lesson-1"
    )

    actor = lesson_recorder()

    def reverse():
        return lesson_consumption_reverse(
            actor=actor, student_id=student.pk, lesson_reference="lesson-1"
        )

    results = run_in_threads([reverse] * THREADS)

    assert [result.error for result in results] == [None] * THREADS
    assert sum(result.value.created for result in results) == 1
    assert HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT_REVERSAL).count() == 1
    assert unused_minutes(package) == 600
    assert balance_of(student).consumed_minutes == 0
    assert_ledger_clean()
