"""verify_ledger: balances equal the ledger, and the ledger agrees with the purchases."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance
from finances.services.ledger import ledger_entry_append
from tests.factories import PurchaseTransactionFactory
from tests.support.payments import purchase_pay, purchase_refund

pytestmark = pytest.mark.django_db


def run() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_ledger", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing() -> tuple[str, str]:
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    return str(raised.value), err.getvalue()


def paid_purchase(**fields):
    purchase = PurchaseTransactionFactory(**fields)
    purchase_pay(purchase)
    return purchase


def debit(purchase, minutes, key):
    with transaction.atomic():
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=HoursLedgerEntry.EntryType.DEBIT,
            minutes=-minutes,
            idempotency_key=key,
        )


def test_an_empty_database_is_clean():
    out, err = run()

    assert "Ledger clean" in out
    assert err == ""


def test_payments_consumption_and_refunds_through_the_services_are_clean():
    first, second = paid_purchase(), paid_purchase()
    debit(first, 90, "lesson-1")
    purchase_refund(second, refunded_total_cents=7000)

    out, err = run()

    assert "Ledger clean" in out
    assert "2 lots checked: 0 problems" in out
    assert err == ""


def test_a_tampered_balance_is_reported_with_the_student_and_the_field():
    purchase = paid_purchase()
    # Stays within the check constraints (remaining = purchased - ...), yet drifts.
    StudentAccountBalance.objects.filter(student=purchase.student).update(
        purchased_minutes=F("purchased_minutes") + 60,
        remaining_minutes=F("remaining_minutes") + 60,
    )

    message, err = run_failing()

    assert "Ledger drift" in message
    assert f"student {purchase.student_id}" in err
    assert "purchased_minutes=660, ledger 600" in err
    assert "remaining_minutes=660, ledger 600" in err
    assert "paid_cents" not in err


def test_a_tampered_money_total_is_reported():
    purchase = paid_purchase()
    StudentAccountBalance.objects.filter(student=purchase.student).update(paid_cents=99)

    _, err = run_failing()

    assert f"student {purchase.student_id}: balance paid_cents=99, ledger 14000" in err


def test_the_command_line_exits_non_zero_on_drift():
    purchase = paid_purchase()
    StudentAccountBalance.objects.filter(student=purchase.student).update(
        purchased_minutes=0, remaining_minutes=0
    )

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "verify_ledger"]).execute()

    assert exited.value.code not in (0, None)


def test_a_completed_purchase_without_a_credit_is_reported():
    now = timezone.now()
    uncredited = PurchaseTransactionFactory(
        status=PurchaseTransaction.Status.COMPLETED,
        paid_at=now,
        expires_at=now + timedelta(days=45),
    )
    paid_purchase()  # a correct one next to it is not reported

    _, err = run_failing()

    assert err.strip().splitlines() == [f"purchase {uncredited.pk}: COMPLETED with 0 credits"]


def test_a_credited_purchase_that_is_not_paid_is_reported():
    purchase = paid_purchase()
    PurchaseTransaction.objects.filter(pk=purchase.pk).update(status="FAILED")

    _, err = run_failing()

    assert f"purchase {purchase.pk}: FAILED but credited" in err


def test_a_lot_used_beyond_its_hours_is_reported():
    student_lot = paid_purchase()
    other_lot = paid_purchase(student=student_lot.student)
    debit(student_lot, 900, "lesson-long")  # the balance still has 300 minutes left

    _, err = run_failing()

    assert err.strip().splitlines() == [f"purchase {student_lot.pk}: -300 unused minutes"]
    assert str(other_lot.pk) not in err
