"""Lessons use hours: soonest-expiring packages first, once per lesson, reversible."""

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ApplicationError, ConflictError, NotFoundError
from finances.models import HoursLedgerEntry, StudentAccountBalance
from finances.services.consumption import (
    InsufficientHours,
    lesson_consumption_record,
    lesson_consumption_reverse,
)
from finances.services.expiry import packages_expire
from tests.factories import UserFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import (
    assert_ledger_clean,
    balance_of,
    lot_entries,
    paid_package,
    unused_minutes,
)

pytestmark = pytest.mark.django_db

EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def student():
    return UserFactory()


@pytest.fixture
def three_lots(student):
    """Created latest-expiring first, so the order cannot come from creation order."""
    latest = paid_package(student, minutes=600, validity_days=90, paid_at=NOW - timedelta(days=1))
    soonest = paid_package(
        student, minutes=60, price_cents=2000, validity_days=45, paid_at=NOW - timedelta(days=40)
    )
    middle = paid_package(
        student, minutes=120, price_cents=3500, validity_days=45, paid_at=NOW - timedelta(days=10)
    )
    return soonest, middle, latest


def _debits(consumption) -> list[tuple[object, int]]:
    return [(entry.purchase_transaction_id, entry.minutes) for entry in consumption.entries]


def _ledger_count() -> int:
    return HoursLedgerEntry.objects.count()


def test_a_lesson_draws_from_the_soonest_expiring_package_first_and_spills_into_the_next(
    student, three_lots
):
    soonest, middle, latest = three_lots

    first = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )
    second = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-2"
    )

    assert first.created
    assert second.created
    assert _debits(first) == [(soonest.pk, -60), (middle.pk, -90)]
    assert _debits(second) == [(middle.pk, -30), (latest.pk, -30)]
    assert {entry.entry_type for entry in first.entries + second.entries} == {EntryType.DEBIT}
    assert {entry.lesson_reference for entry in first.entries} == {"L-1"}
    assert (unused_minutes(soonest), unused_minutes(middle), unused_minutes(latest)) == (0, 0, 570)
    balance = balance_of(student)
    assert (balance.consumed_minutes, balance.remaining_minutes) == (210, 570)
    assert_ledger_clean()


def test_a_lesson_that_fits_in_the_soonest_package_draws_only_from_it(student, three_lots):
    soonest, middle, latest = three_lots

    consumption = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=45, lesson_reference="L-1"
    )

    assert _debits(consumption) == [(soonest.pk, -45)]
    assert (unused_minutes(soonest), unused_minutes(middle), unused_minutes(latest)) == (
        15,
        120,
        600,
    )
    assert_ledger_clean()


def test_a_package_past_its_expiry_is_never_drawn_from(student, three_lots, clock):
    soonest, middle, latest = three_lots
    clock.move_to(soonest.expires_at + timedelta(seconds=1), tick=False)

    consumption = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )

    # The expiry run has not closed the soonest lot yet: its minutes are unused but dead.
    assert unused_minutes(soonest) == 60
    assert _debits(consumption) == [(middle.pk, -120), (latest.pk, -30)]
    assert_ledger_clean()


def test_a_package_is_not_usable_at_the_very_moment_it_expires(student, clock):
    package = paid_package(student, minutes=60, price_cents=2000, paid_at=NOW - timedelta(days=1))
    clock.move_to(package.expires_at, tick=False)

    with pytest.raises(InsufficientHours):
        lesson_consumption_record(
            actor=lesson_recorder(), student_id=student.pk, minutes=30, lesson_reference="L-1"
        )

    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).exists()


def test_hours_in_expired_packages_do_not_count_as_available(student, three_lots, clock):
    soonest, _, _ = three_lots
    clock.move_to(soonest.expires_at + timedelta(days=1), tick=False)

    # 780 minutes were bought, but the 60 of the expired package are gone.
    with pytest.raises(InsufficientHours):
        lesson_consumption_record(
            actor=lesson_recorder(), student_id=student.pk, minutes=721, lesson_reference="L-1"
        )

    consumption = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=720, lesson_reference="L-2"
    )
    assert -sum(entry.minutes for entry in consumption.entries) == 720
    assert unused_minutes(soonest) == 60
    assert_ledger_clean()


def test_insufficient_hours_are_refused_and_nothing_is_written(student):
    package = paid_package(student, minutes=60, price_cents=2000)
    entries_before = _ledger_count()

    with pytest.raises(InsufficientHours) as raised:
        lesson_consumption_record(
            actor=lesson_recorder(), student_id=student.pk, minutes=90, lesson_reference="L-1"
        )

    assert (raised.value.code, raised.value.status_code) == ("insufficient_hours", 409)
    assert "1.50 h" in raised.value.message
    assert "1.00 h" in raised.value.message
    assert _ledger_count() == entries_before
    assert unused_minutes(package) == 60
    balance = balance_of(student)
    assert (balance.consumed_minutes, balance.remaining_minutes) == (0, 60)
    assert_ledger_clean()


def test_a_student_who_never_bought_hours_gets_insufficient_hours_and_nothing_changes():
    student = UserFactory()

    with pytest.raises(InsufficientHours):
        lesson_consumption_record(
            actor=lesson_recorder(), student_id=student.pk, minutes=30, lesson_reference="L-1"
        )

    assert not HoursLedgerEntry.objects.exists()
    balance = StudentAccountBalance.objects.get(student=student)
    assert (balance.consumed_minutes, balance.remaining_minutes) == (0, 0)


@pytest.mark.parametrize(
    ("minutes", "reference", "field"),
    [
        (0, "L-1", "minutes"),
        (-30, "L-1", "minutes"),
        (24 * 60 + 1, "L-1", "minutes"),
        (60, "", "lesson_reference"),
        (60, "L" * 101, "lesson_reference"),
    ],
)
def test_invalid_minutes_or_references_are_refused(student, minutes, reference, field):
    paid_package(student)

    with pytest.raises(ApplicationError) as raised:
        lesson_consumption_record(
            actor=lesson_recorder(),
            student_id=student.pk,
            minutes=minutes,
            lesson_reference=reference,
        )

    assert raised.value.code == "validation_error"
    assert list(raised.value.fields) == [field]
    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).exists()


def test_a_lesson_of_a_full_day_is_accepted(student):
    paid_package(student, minutes=24 * 60, price_cents=30000)

    consumption = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=24 * 60, lesson_reference="L" * 100
    )

    assert consumption.created
    assert balance_of(student).remaining_minutes == 0
    assert_ledger_clean()


def test_recording_the_same_lesson_again_returns_the_first_record_and_writes_nothing(
    student, three_lots
):
    first = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )
    entries_before = _ledger_count()

    again = lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )

    assert again.created is False
    assert [entry.pk for entry in again.entries] == [entry.pk for entry in first.entries]
    assert again.minutes == 150
    assert _ledger_count() == entries_before
    assert balance_of(student).consumed_minutes == 150
    assert_ledger_clean()


def test_the_same_lesson_reference_with_other_minutes_is_a_conflict(student, three_lots):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )
    entries_before = _ledger_count()

    with pytest.raises(ConflictError) as raised:
        lesson_consumption_record(
            actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-1"
        )

    assert (raised.value.code, raised.value.status_code) == ("lesson_reference_conflict", 409)
    assert "150" in raised.value.message
    assert _ledger_count() == entries_before
    assert balance_of(student).consumed_minutes == 150
    assert_ledger_clean()


def test_the_same_lesson_reference_for_two_students_is_two_lessons():
    ana, bia = UserFactory(), UserFactory()
    ana_package, bia_package = paid_package(ana), paid_package(bia)

    for_ana = lesson_consumption_record(
        actor=lesson_recorder(), student_id=ana.pk, minutes=60, lesson_reference="L-1"
    )
    for_bia = lesson_consumption_record(
        actor=lesson_recorder(), student_id=bia.pk, minutes=90, lesson_reference="L-1"
    )

    assert for_ana.created
    assert for_bia.created
    assert _debits(for_ana) == [(ana_package.pk, -60)]
    assert _debits(for_bia) == [(bia_package.pk, -90)]
    assert (balance_of(ana).consumed_minutes, balance_of(bia).consumed_minutes) == (60, 90)
    assert_ledger_clean()


def test_a_reversal_returns_the_minutes_to_exactly_the_lots_they_came_from(student, three_lots):
    soonest, middle, latest = three_lots
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-2"
    )

    reversal = lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )

    assert reversal.created
    assert reversal.minutes == 150
    assert [
        (entry.entry_type, entry.purchase_transaction_id, entry.minutes)
        for entry in reversal.entries
    ] == [
        (EntryType.DEBIT_REVERSAL, soonest.pk, 60),
        (EntryType.DEBIT_REVERSAL, middle.pk, 90),
    ]
    # L-2 (30 from the middle lot, 30 from the latest) is still consumed.
    assert (unused_minutes(soonest), unused_minutes(middle), unused_minutes(latest)) == (
        60,
        90,
        570,
    )
    balance = balance_of(student)
    assert (balance.consumed_minutes, balance.remaining_minutes) == (60, 720)
    assert_ledger_clean()


def test_a_reversal_is_idempotent(student, three_lots):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )
    first = lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )
    entries_before = _ledger_count()

    again = lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )

    assert again.created is False
    assert [entry.pk for entry in again.entries] == [entry.pk for entry in first.entries]
    assert _ledger_count() == entries_before
    assert balance_of(student).consumed_minutes == 0
    assert_ledger_clean()


def test_recording_a_reversed_lesson_again_is_refused_rather_than_silently_ignored(
    student, three_lots
):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
    )
    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )
    entries_before = _ledger_count()

    with pytest.raises(ConflictError) as raised:
        lesson_consumption_record(
            actor=lesson_recorder(), student_id=student.pk, minutes=150, lesson_reference="L-1"
        )

    assert (raised.value.code, raised.value.status_code) == ("lesson_reference_reversed", 409)
    assert _ledger_count() == entries_before
    assert balance_of(student).consumed_minutes == 0
    assert_ledger_clean()


def test_a_reversal_onto_a_lot_that_has_since_expired_expires_those_minutes_again(student, clock):
    expiring = paid_package(student, minutes=60, price_cents=2000, paid_at=NOW - timedelta(days=40))
    later = paid_package(student, minutes=600, validity_days=90)
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=90, lesson_reference="L-1"
    )
    clock.move_to(expiring.expires_at + timedelta(hours=1), tick=False)
    packages_expire()  # nothing to expire: the lesson used the whole expiring lot
    before = balance_of(student)

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )

    assert lot_entries(expiring) == [
        (EntryType.CREDIT, 60),
        (EntryType.DEBIT, -60),
        (EntryType.DEBIT_REVERSAL, 60),
        (EntryType.EXPIRY, -60),
    ]
    assert lot_entries(later) == [
        (EntryType.CREDIT, 600),
        (EntryType.DEBIT, -30),
        (EntryType.DEBIT_REVERSAL, 30),
    ]
    after = balance_of(student)
    # Only the 30 minutes of the still-valid lot are usable again.
    assert after.remaining_minutes == before.remaining_minutes + 30 == 600
    assert (after.consumed_minutes, after.expired_minutes) == (0, 60)
    assert_ledger_clean()


def test_a_reversal_onto_an_expired_lot_leaves_the_remaining_hours_unchanged(student, clock):
    expiring = paid_package(
        student, minutes=120, price_cents=3500, paid_at=NOW - timedelta(days=40)
    )
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-1"
    )
    clock.move_to(expiring.expires_at + timedelta(hours=1), tick=False)
    assert packages_expire().minutes_expired == 60
    remaining_before = balance_of(student).remaining_minutes

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )

    assert balance_of(student).remaining_minutes == remaining_before == 0
    assert lot_entries(expiring)[-2:] == [
        (EntryType.DEBIT_REVERSAL, 60),
        (EntryType.EXPIRY, -60),
    ]
    assert balance_of(student).expired_minutes == 120
    assert unused_minutes(expiring) == 0
    # The next expiry run finds nothing more to expire.
    assert packages_expire().lots == []
    assert_ledger_clean()


def test_reversing_a_lesson_that_was_never_recorded_is_not_found(student, three_lots):
    entries_before = _ledger_count()

    with pytest.raises(NotFoundError):
        lesson_consumption_reverse(
            actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-unknown"
        )

    assert _ledger_count() == entries_before
    assert_ledger_clean()


def test_a_student_cannot_reverse_another_students_lesson(student, three_lots):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-1"
    )
    other = UserFactory()
    paid_package(other)

    with pytest.raises(NotFoundError):
        lesson_consumption_reverse(
            actor=lesson_recorder(), student_id=other.pk, lesson_reference="L-1"
        )

    assert balance_of(student).consumed_minutes == 60
    assert balance_of(other).consumed_minutes == 0
    assert_ledger_clean()
