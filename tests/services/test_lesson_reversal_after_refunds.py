"""A lesson reversed after a refund (full or partial) never gives the refunded minutes
back: the reversal first settles what the refund could not take."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.consumption import lesson_consumption_record, lesson_consumption_reverse
from finances.services.ledger import ledger_entry_append
from finances.services.ledger_verification import ledger_verify
from tests.factories import UserFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import (
    assert_ledger_clean,
    balance_of,
    lot_entries,
    paid_package,
    unused_minutes,
)
from tests.support.payments import purchase_refund

pytestmark = pytest.mark.django_db

EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def student():
    return UserFactory()


def test_a_lesson_reversed_after_a_full_refund_leaves_the_lot_empty(student):
    package = paid_package(student, minutes=600, price_cents=14000)
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-1"
    )
    purchase_refund(package, refunded_total_cents=14000)
    assert package.status == PurchaseTransaction.Status.REFUNDED
    assert package.refund_shortfall_minutes == 60

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )

    package.refresh_from_db()
    assert unused_minutes(package) == 0
    assert package.refund_shortfall_minutes == 0
    assert lot_entries(package)[-2:] == [
        (EntryType.DEBIT_REVERSAL, 60),
        (EntryType.REFUND_REVERSAL, -60),
    ]
    balance = balance_of(student)
    assert (balance.consumed_minutes, balance.refunded_minutes) == (0, 600)
    assert balance.remaining_minutes == 0
    assert_ledger_clean()


def test_a_lesson_reversed_after_a_partial_refund_gives_back_only_the_unrefunded_share(
    student,
):
    package = paid_package(student, minutes=600, price_cents=14000)
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=400, lesson_reference="L-1"
    )
    purchase_refund(package, refunded_total_cents=7000)  # half: 300 minutes, 200 unused
    assert package.refund_shortfall_minutes == 100
    assert unused_minutes(package) == 0

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )

    package.refresh_from_db()
    assert unused_minutes(package) == 300  # the half that was not refunded
    assert package.refund_shortfall_minutes == 0
    assert balance_of(student).refunded_minutes == 300
    assert_ledger_clean()


def test_a_reversal_without_a_shortfall_gives_every_minute_back(student):
    package = paid_package(student, minutes=600, price_cents=14000)
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-1"
    )
    purchase_refund(package, refunded_total_cents=7000)
    assert package.refund_shortfall_minutes == 0

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="L-1"
    )

    assert unused_minutes(package) == 300
    assert_ledger_clean()


def test_verify_ledger_catches_usable_minutes_on_a_refunded_lot(student):
    package = paid_package(student, minutes=600, price_cents=14000)
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=60, lesson_reference="L-1"
    )
    purchase_refund(package, refunded_total_cents=14000)
    with transaction.atomic():  # what the old reversal did: minutes back on the lot
        ledger_entry_append(
            student_id=student.pk,
            purchase_transaction_id=package.pk,
            entry_type=EntryType.DEBIT_REVERSAL,
            minutes=60,
            idempotency_key="test:minutes-back",
        )

    problems = ledger_verify().problems
    assert any("REFUNDED with 60 usable minutes" in problem for problem in problems), problems
    assert any("more than the 0 its money still pays" in problem for problem in problems)


def test_verify_ledger_catches_usable_minutes_beyond_the_unrefunded_share(student):
    package = paid_package(student, minutes=600, price_cents=14000)
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=student.pk, minutes=400, lesson_reference="L-1"
    )
    purchase_refund(package, refunded_total_cents=7000)
    with transaction.atomic():
        ledger_entry_append(
            student_id=student.pk,
            purchase_transaction_id=package.pk,
            entry_type=EntryType.DEBIT_REVERSAL,
            minutes=400,
            idempotency_key="test:minutes-back",
        )

    problems = ledger_verify().problems
    assert any("400 usable minutes, more than the 300" in problem for problem in problems), problems
