"""Unused hours expire at their purchase's expiry: one EXPIRY entry per lot, once."""

from datetime import UTC, datetime, timedelta

import pytest

from finances.models import HoursLedgerEntry
from finances.services.consumption import lesson_consumption_record
from finances.services.expiry import packages_expire
from tests.factories import UserFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import (
    assert_ledger_clean,
    balance_of,
    lot_entries,
    paid_package,
    paid_subscription,
    unused_minutes,
)
from tests.support.payments import purchase_refund

pytestmark = pytest.mark.django_db

EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def student():
    return UserFactory()


@pytest.fixture
def lots(student):
    """partly_used: expired, 150 of 600 consumed; used_up: expired, all consumed;
    valid: not expired yet. All three exist when the expiry runs."""
    partly_used = paid_package(
        student, minutes=600, validity_days=30, paid_at=NOW - timedelta(days=40)
    )
    used_up = paid_package(
        student, minutes=60, price_cents=2000, validity_days=30, paid_at=NOW - timedelta(days=45)
    )
    valid = paid_package(student, minutes=300, price_cents=7500, validity_days=90)
    _consume_before_expiry(student, used_up, 60, "used-up lesson")
    _consume_before_expiry(student, partly_used, 150, "partly-used lesson")
    return partly_used, used_up, valid


def _consume_before_expiry(student, purchase, minutes: int, reference: str) -> None:
    """A lesson recorded the day before the purchase expired, drawn from that purchase."""
    moment = purchase.expires_at - timedelta(days=1)
    consumption = lesson_consumption_record(
        actor=lesson_recorder(),
        student_id=student.pk,
        minutes=minutes,
        lesson_reference=reference,
        now=moment,
    )
    assert [entry.purchase_transaction_id for entry in consumption.entries] == [purchase.pk]


def _expiry_entries():
    return HoursLedgerEntry.objects.filter(entry_type=EntryType.EXPIRY)


def test_only_the_unused_minutes_of_expired_lots_expire_one_entry_per_lot(student, lots):
    partly_used, used_up, valid = lots

    run = packages_expire()

    assert [(lot.purchase_transaction_id, lot.minutes) for lot in run.lots] == [
        (partly_used.pk, 450)
    ]
    assert run.minutes_expired == 450
    assert run.lots[0].student_id == student.pk
    assert run.lots[0].expires_at == partly_used.expires_at
    assert list(_expiry_entries().values_list("purchase_transaction_id", "minutes")) == [
        (partly_used.pk, -450)
    ]
    assert lot_entries(partly_used)[-1] == (EntryType.EXPIRY, -450)
    assert unused_minutes(partly_used) == 0
    assert unused_minutes(used_up) == 0
    assert lot_entries(valid) == [(EntryType.CREDIT, 300)]
    balance = balance_of(student)
    assert (balance.expired_minutes, balance.remaining_minutes) == (450, 300)
    assert balance.purchased_minutes - balance.consumed_minutes - balance.expired_minutes == 300
    assert_ledger_clean()


def test_a_second_run_expires_nothing_more(student, lots):
    packages_expire()
    entries_before = HoursLedgerEntry.objects.count()

    again = packages_expire()

    assert again.lots == []
    assert again.minutes_expired == 0
    assert HoursLedgerEntry.objects.count() == entries_before
    assert balance_of(student).expired_minutes == 450
    assert_ledger_clean()


def test_a_dry_run_lists_what_would_expire_and_writes_nothing(student, lots):
    partly_used, _, _ = lots
    entries_before = HoursLedgerEntry.objects.count()

    run = packages_expire(dry_run=True)

    assert run.dry_run
    assert [(lot.purchase_transaction_id, lot.minutes) for lot in run.lots] == [
        (partly_used.pk, 450)
    ]
    assert HoursLedgerEntry.objects.count() == entries_before
    assert balance_of(student).expired_minutes == 0
    # The real run afterwards expires exactly what the dry run listed.
    assert packages_expire().minutes_expired == 450


def test_a_run_as_of_a_past_moment_expires_only_what_had_expired_then(student, lots):
    partly_used, _, _ = lots

    run = packages_expire(now=partly_used.expires_at - timedelta(seconds=1))

    assert run.lots == []
    assert not _expiry_entries().exists()


def test_a_run_as_of_a_future_moment_also_expires_lots_that_expire_before_it(student, lots):
    partly_used, _, valid = lots

    run = packages_expire(now=valid.expires_at)

    assert sorted((str(lot.purchase_transaction_id), lot.minutes) for lot in run.lots) == sorted(
        [(str(partly_used.pk), 450), (str(valid.pk), 300)]
    )
    balance = balance_of(student)
    assert (balance.expired_minutes, balance.remaining_minutes) == (750, 0)
    assert_ledger_clean()


def test_a_lot_expires_at_exactly_its_expiry_time(student):
    package = paid_package(student, minutes=120, price_cents=3500, validity_days=10)

    assert packages_expire(now=package.expires_at - timedelta(microseconds=1)).lots == []
    run = packages_expire(now=package.expires_at)

    assert [(lot.purchase_transaction_id, lot.minutes) for lot in run.lots] == [(package.pk, 120)]


def test_subscription_hours_expire_at_the_end_of_the_billing_period(student):
    # Paid on 31 January: the month ends on the last day of February.
    subscription = paid_subscription(student, paid_at=datetime(2025, 1, 31, 9, 30, tzinfo=UTC))
    assert subscription.expires_at == datetime(2025, 2, 28, 9, 30, tzinfo=UTC)

    assert packages_expire(now=datetime(2025, 2, 28, 9, 29, 59, tzinfo=UTC)).lots == []
    run = packages_expire(now=datetime(2025, 2, 28, 9, 30, tzinfo=UTC))

    assert [(lot.purchase_transaction_id, lot.minutes) for lot in run.lots] == [
        (subscription.pk, 900)
    ]
    assert lot_entries(subscription) == [(EntryType.CREDIT, 900), (EntryType.EXPIRY, -900)]
    balance = balance_of(student)
    assert (balance.expired_minutes, balance.remaining_minutes) == (900, 0)
    assert_ledger_clean()


def test_what_a_partial_refund_took_back_does_not_expire_again(student):
    package = paid_package(student, minutes=600, price_cents=14000, validity_days=10)
    purchase_refund(package, refunded_total_cents=7000)  # takes back 300 minutes

    run = packages_expire(now=package.expires_at)

    assert run.minutes_expired == 300
    assert lot_entries(package) == [
        (EntryType.CREDIT, 600),
        (EntryType.REFUND_REVERSAL, -300),
        (EntryType.EXPIRY, -300),
    ]
    balance = balance_of(student)
    assert (balance.refunded_minutes, balance.expired_minutes, balance.remaining_minutes) == (
        300,
        300,
        0,
    )
    assert_ledger_clean()


def test_lots_of_several_students_expire_each_on_their_own_balance():
    ana, bia = UserFactory(), UserFactory()
    ana_lot = paid_package(ana, minutes=120, price_cents=3500, validity_days=10)
    bia_lot = paid_package(bia, minutes=600, validity_days=10)

    run = packages_expire(now=NOW + timedelta(days=11))

    assert {(lot.student_id, lot.minutes) for lot in run.lots} == {(ana.pk, 120), (bia.pk, 600)}
    assert (balance_of(ana).expired_minutes, balance_of(bia).expired_minutes) == (120, 600)
    assert unused_minutes(ana_lot) == unused_minutes(bia_lot) == 0
    assert_ledger_clean()
