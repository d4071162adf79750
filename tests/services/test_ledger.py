"""ledger_entry_append and the database rules that keep the hours ledger append-only."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance
from finances.services.ledger import ledger_entry_append, lot_totals
from finances.services.ledger_verification import ledger_verify
from tests.factories import PurchaseTransactionFactory, UserFactory
from tests.support.webhook_pipeline_helpers import BALANCE_FIELDS, NO_BALANCE, balance_totals

pytestmark = pytest.mark.django_db
EntryType = HoursLedgerEntry.EntryType


def append(purchase, entry_type, minutes, amount_cents=0, key=None, **options):
    with transaction.atomic():
        return ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=entry_type,
            minutes=minutes,
            amount_cents=amount_cents,
            idempotency_key=key or f"test:{entry_type}:{minutes}:{amount_cents}",
            **options,
        )


def paid_purchase(**fields):
    """A COMPLETED purchase (not yet credited), so verify_ledger agrees once it is."""
    now = timezone.now()
    return PurchaseTransactionFactory(
        status=PurchaseTransaction.Status.COMPLETED,
        paid_at=now,
        expires_at=now + timedelta(days=45),
        **fields,
    )


@pytest.fixture
def purchase():
    return paid_purchase()


@pytest.fixture
def credited(purchase):
    """600 minutes credited for 14000 cents, 120 of them consumed."""
    append(purchase, EntryType.CREDIT, 600, 14000)
    append(purchase, EntryType.DEBIT, -120, key="lesson-a")
    return purchase


def test_a_first_credit_fills_the_new_students_zero_balance(purchase):
    assert balance_totals(purchase.student) == NO_BALANCE

    entry = append(purchase, EntryType.CREDIT, 600, 14000)

    assert HoursLedgerEntry.objects.get() == entry
    assert balance_totals(purchase.student) == {
        **NO_BALANCE,
        "purchased_minutes": 600,
        "remaining_minutes": 600,
        "paid_cents": 14000,
    }


@pytest.mark.parametrize(
    ("entry_type", "minutes", "amount_cents", "expected_changes"),
    [
        (
            EntryType.CREDIT,
            900,
            11900,
            {"purchased_minutes": 900, "remaining_minutes": 900, "paid_cents": 11900},
        ),
        (EntryType.DEBIT, -60, 0, {"consumed_minutes": 60, "remaining_minutes": -60}),
        (EntryType.DEBIT_REVERSAL, 60, 0, {"consumed_minutes": -60, "remaining_minutes": 60}),
        (
            EntryType.REFUND_REVERSAL,
            -240,
            -5600,
            {"refunded_minutes": 240, "remaining_minutes": -240, "refunded_cents": 5600},
        ),
        (EntryType.REFUND_REVERSAL, 0, -1, {"refunded_cents": 1}),
        (EntryType.EXPIRY, -480, 0, {"expired_minutes": 480, "remaining_minutes": -480}),
        (EntryType.DISPUTE_HOLD, -120, 0, {"held_minutes": 120, "remaining_minutes": -120}),
        (
            EntryType.DISPUTE_LOSS,
            -120,
            -2800,
            {"refunded_minutes": 120, "remaining_minutes": -120, "refunded_cents": 2800},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_entry_type_moves_exactly_its_balance_fields(
    credited, entry_type, minutes, amount_cents, expected_changes
):
    lot = credited if entry_type != EntryType.CREDIT else paid_purchase(student=credited.student)
    before = balance_totals(credited.student)

    append(lot, entry_type, minutes, amount_cents, key="under-test")

    after = balance_totals(credited.student)
    changes = {name: after[name] - before[name] for name in BALANCE_FIELDS}
    assert changes == {**dict.fromkeys(BALANCE_FIELDS, 0), **expected_changes}
    # The balance equals the ledger (the lot checks see entries no service would write).
    assert [p for p in ledger_verify().problems if p.startswith("student")] == []


def test_entries_keep_what_they_were_given(credited):
    entry = append(
        credited,
        EntryType.DEBIT,
        -50,
        key="lesson:42",
        lesson_reference="42",
        stripe_event_id="",
        note="n" * 600,
    )

    entry.refresh_from_db()
    assert (entry.entry_type, entry.minutes, entry.amount_cents) == ("DEBIT", -50, 0)
    assert (entry.idempotency_key, entry.lesson_reference) == ("lesson:42", "42")
    assert entry.note == "n" * 500


def test_lot_totals_sum_the_lot_and_its_refunds(credited):
    append(credited, EntryType.REFUND_REVERSAL, -100, -2000)

    assert lot_totals(purchase_transaction_id=credited.pk) == {
        "entries": 3,  # the credit, a lesson, the refund
        "unused_minutes": 600 - 120 - 100,
        "refunded_minutes": 100,
        "refunded_cents": 2000,
        "held_minutes": 0,
        "dispute_lost_minutes": 0,
        "dispute_lost_cents": 0,
    }


@pytest.mark.django_db(transaction=True)
def test_appending_outside_a_transaction_is_refused():
    purchase = PurchaseTransactionFactory()

    with pytest.raises(RuntimeError, match="inside the transaction"):
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=EntryType.CREDIT,
            minutes=600,
            amount_cents=14000,
            idempotency_key="outside",
        )

    assert not HoursLedgerEntry.objects.exists()
    assert balance_totals(purchase.student) == NO_BALANCE


class TestAppendOnly:
    def test_saving_an_existing_entry_is_refused(self, credited):
        entry = HoursLedgerEntry.objects.get(entry_type=EntryType.CREDIT)
        entry.minutes = 6000

        with pytest.raises(ValueError, match="append-only"):
            entry.save()

        assert HoursLedgerEntry.objects.get(pk=entry.pk).minutes == 600

    def test_deleting_an_entry_is_refused(self, credited):
        entry = HoursLedgerEntry.objects.get(entry_type=EntryType.CREDIT)

        with pytest.raises(ValueError, match="append-only"):
            entry.delete()

        assert HoursLedgerEntry.objects.filter(pk=entry.pk).exists()

    def test_a_queryset_update_is_refused_by_the_database(self, credited):
        with pytest.raises(DatabaseError), transaction.atomic():
            HoursLedgerEntry.objects.filter(entry_type=EntryType.CREDIT).update(minutes=6000)

        assert HoursLedgerEntry.objects.get(entry_type=EntryType.CREDIT).minutes == 600

    @pytest.mark.postgresql
    def test_a_queryset_delete_is_refused_by_the_database(self, credited):
        with pytest.raises(DatabaseError), transaction.atomic():
            HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).delete()

        assert HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).count() == 1


class TestUniqueness:
    def test_a_purchase_is_credited_only_once(self, credited):
        with pytest.raises(IntegrityError), transaction.atomic():
            ledger_entry_append(
                student_id=credited.student_id,
                purchase_transaction_id=credited.pk,
                entry_type=EntryType.CREDIT,
                minutes=600,
                amount_cents=14000,
                idempotency_key="another-key-same-purchase",
            )

        assert HoursLedgerEntry.objects.filter(entry_type=EntryType.CREDIT).count() == 1
        assert balance_totals(credited.student)["purchased_minutes"] == 600

    def test_an_idempotency_key_is_used_once(self, credited):
        with pytest.raises(IntegrityError), transaction.atomic():
            append(credited, EntryType.DEBIT, -30, key="lesson-a")

        assert HoursLedgerEntry.objects.filter(idempotency_key="lesson-a").count() == 1
        assert balance_totals(credited.student)["consumed_minutes"] == 120

    def test_the_same_key_on_another_students_entry_is_still_refused(self, credited):
        other = paid_purchase()

        with pytest.raises(IntegrityError), transaction.atomic():
            append(other, EntryType.CREDIT, 600, 14000, key="lesson-a")


@pytest.mark.parametrize(
    ("entry_type", "minutes", "amount_cents"),
    [
        (EntryType.CREDIT, 0, 14000),
        (EntryType.CREDIT, -600, 14000),
        (EntryType.CREDIT, 600, 0),
        (EntryType.CREDIT, 600, -14000),
        (EntryType.DEBIT, 60, 0),
        (EntryType.DEBIT, 0, 0),
        (EntryType.DEBIT, -60, 100),
        (EntryType.DEBIT_REVERSAL, -60, 0),
        (EntryType.DEBIT_REVERSAL, 0, 0),
        (EntryType.DEBIT_REVERSAL, 60, 5),
        (EntryType.REFUND_REVERSAL, 60, -100),
        (EntryType.REFUND_REVERSAL, -60, 100),
        (EntryType.EXPIRY, 60, 0),
        (EntryType.EXPIRY, 0, 0),
        (EntryType.EXPIRY, -60, -1),
        ("BONUS", 60, 0),
    ],
)
def test_the_database_refuses_signs_that_do_not_match_the_type(
    purchase, entry_type, minutes, amount_cents
):
    with pytest.raises(IntegrityError), transaction.atomic():
        HoursLedgerEntry.objects.create(
            student_id=purchase.student_id,
            purchase_transaction=purchase,
            entry_type=entry_type,
            minutes=minutes,
            amount_cents=amount_cents,
            idempotency_key="sign-check",
        )

    assert not HoursLedgerEntry.objects.exists()


class TestBalanceConstraints:
    def test_a_debit_beyond_the_remaining_hours_is_refused_with_its_entry(self, credited):
        with pytest.raises(IntegrityError), transaction.atomic():
            append(credited, EntryType.DEBIT, -481, key="too-much")

        assert not HoursLedgerEntry.objects.filter(idempotency_key="too-much").exists()
        assert balance_totals(credited.student)["remaining_minutes"] == 480

    @pytest.mark.parametrize(
        "fields",
        [
            {"purchased_minutes": 600, "remaining_minutes": 500},
            {"purchased_minutes": 600, "consumed_minutes": 100, "remaining_minutes": 600},
            {"purchased_minutes": 600, "expired_minutes": 700, "remaining_minutes": -100},
            {"purchased_minutes": -60, "consumed_minutes": -60},
            {"paid_cents": -1},
            {"refunded_cents": 1},
            {"paid_cents": 100, "refunded_cents": 101},
        ],
    )
    def test_an_inconsistent_or_negative_balance_is_refused(self, fields):
        student = UserFactory()  # gets its zero balance on creation

        with pytest.raises(IntegrityError), transaction.atomic():
            StudentAccountBalance.objects.filter(student=student).update(**fields)

        assert balance_totals(student) == NO_BALANCE

    def test_a_consistent_balance_is_accepted(self):
        student = UserFactory()
        fields = {
            "purchased_minutes": 600,
            "consumed_minutes": 100,
            "refunded_minutes": 50,
            "expired_minutes": 25,
            "held_minutes": 30,
            "remaining_minutes": 395,
            "paid_cents": 14000,
            "refunded_cents": 1000,
        }

        StudentAccountBalance.objects.filter(student=student).update(**fields)

        assert balance_totals(student) == fields
