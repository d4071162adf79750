"""The expiry run reads only the lots still open (`PurchaseTransaction.lot_open`), so its
cost follows the lots due, not every lot that ever expired. The database keeps the marker:
any ledger entry that adds minutes to a lot opens it; the run closes it once past expiry."""

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.consumption import lesson_consumption_record, lesson_consumption_reverse
from finances.services.expiry import packages_expire
from tests.factories import PurchaseTransactionFactory, UserFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import assert_ledger_clean, paid_package, unused_minutes

pytestmark = pytest.mark.django_db

EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
migration = importlib.import_module("finances.migrations.0011_perf_read_paths")


@pytest.fixture(autouse=True)
def _frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def student():
    return UserFactory()


def _open(purchase) -> bool:
    return PurchaseTransaction.objects.values_list("lot_open", flat=True).get(pk=purchase.pk)


def test_a_paid_lot_is_open_and_an_unpaid_purchase_has_no_open_lot(student):
    paid = paid_package(student)
    pending = PurchaseTransactionFactory(student=student)

    assert _open(paid) is True
    assert _open(pending) is False


def test_the_run_closes_the_lots_it_expired_and_leaves_the_valid_ones_open(student):
    expired = paid_package(student, validity_days=30, paid_at=NOW - timedelta(days=40))
    valid = paid_package(student, validity_days=90)

    run = packages_expire()

    assert [lot.purchase_transaction_id for lot in run.lots] == [expired.pk]
    assert (_open(expired), _open(valid)) == (False, True)
    assert_ledger_clean()


def test_a_lot_used_up_before_its_expiry_is_closed_without_an_entry(student):
    used_up = paid_package(
        student, minutes=60, price_cents=2000, validity_days=30, paid_at=NOW - timedelta(days=40)
    )
    lesson_consumption_record(
        actor=lesson_recorder(),
        student_id=student.pk,
        minutes=60,
        lesson_reference="all of it",
        now=used_up.expires_at - timedelta(days=1),
    )

    run = packages_expire()

    assert run.lots == []
    assert _open(used_up) is False
    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.EXPIRY).exists()


def test_a_later_run_reads_no_lot_once_every_due_lot_is_closed(student):
    for days_ago in (40, 50, 60, 70):
        paid_package(student, validity_days=30, paid_at=NOW - timedelta(days=days_ago))
    packages_expire()

    with CaptureQueriesContext(connection) as captured:
        again = packages_expire()

    assert again.lots == []
    # One SELECT of the open lots due, however many lots ever expired.
    assert len(captured.captured_queries) == 1, captured.captured_queries


def test_minutes_given_back_to_a_closed_lot_open_it_again_for_the_next_run(student):
    lot = paid_package(student, validity_days=30, paid_at=NOW - timedelta(days=40))
    lesson_consumption_record(
        actor=lesson_recorder(),
        student_id=student.pk,
        minutes=120,
        lesson_reference="before expiry",
        now=lot.expires_at - timedelta(days=1),
    )
    packages_expire()
    assert _open(lot) is False

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=student.pk, lesson_reference="before expiry"
    )

    # The reversal's DEBIT_REVERSAL (positive minutes) opened the lot in the database.
    assert _open(lot) is True
    packages_expire()
    assert _open(lot) is False
    assert unused_minutes(lot) == 0
    assert_ledger_clean()


def test_the_migration_backfill_opens_exactly_the_lots_with_minutes_left(student):
    expired = paid_package(student, validity_days=30, paid_at=NOW - timedelta(days=40))
    packages_expire()
    fresh = paid_package(student, validity_days=90)
    assert (unused_minutes(expired), unused_minutes(fresh)) == (0, 600)
    # As before the migration: no lot marked at all.
    PurchaseTransaction.objects.update(lot_open=False)

    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)

    assert (_open(expired), _open(fresh)) == (False, True)
