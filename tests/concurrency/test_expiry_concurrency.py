"""Expiry runs started at the same time on several machines (PostgreSQL): every lot
expires once."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from finances.models import HoursLedgerEntry
from finances.services.consumption import lesson_consumption_record
from finances.services.expiry import packages_expire
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
RUNS = 4


def test_simultaneous_expiry_runs_expire_each_lot_exactly_once():
    paid_at = timezone.now() - timedelta(days=40)
    students = [UserFactory() for _ in range(3)]
    lots = [
        paid_package(
            students[index % 3],
            minutes=60 * (index + 1),
            price_cents=1000,
            paid_at=paid_at - timedelta(hours=9 - index),  # lots[0] expires first
            validity_days=30,
        )
        for index in range(9)
    ]
    # One lot was partly used before it expired; one is still valid.
    lesson_consumption_record(
        actor=lesson_recorder(),
        student_id=students[0].pk,
        minutes=30,
        lesson_reference="before-expiry",
        now=lots[0].expires_at - timedelta(days=1),
    )
    valid = paid_package(students[1], minutes=120, price_cents=3500, validity_days=60)
    expected = {lot.pk: unused_minutes(lot) for lot in lots}
    assert expected[lots[0].pk] == 30

    results = run_in_threads([packages_expire] * RUNS)

    assert [result.error for result in results] == [None] * RUNS
    expired_by_runs = Counter()
    for result in results:
        for lot in result.value.lots:
            expired_by_runs[lot.purchase_transaction_id] += lot.minutes
    assert dict(expired_by_runs) == expected
    expiries = HoursLedgerEntry.objects.filter(entry_type=EntryType.EXPIRY)
    assert Counter(expiries.values_list("purchase_transaction_id", flat=True)) == dict.fromkeys(
        expected, 1
    )
    assert {entry.purchase_transaction_id: -entry.minutes for entry in expiries} == expected
    assert all(unused_minutes(lot) == 0 for lot in lots)
    assert unused_minutes(valid) == 120
    assert sum(balance_of(student).expired_minutes for student in students) == sum(
        expected.values()
    )
    assert_ledger_clean()
