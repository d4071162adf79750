"""Purchases started, and paid, at the same moment on PostgreSQL."""

import pytest
from django.db import transaction

from accounts.models import User
from finances.models import HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance
from finances.services.ledger_verification import ledger_verify
from finances.services.purchases import purchase_initiate
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, UserFactory
from tests.support.concurrent_threads import run_together, values_or_raise
from tests.support.payments import purchase_pay

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_ten_simultaneous_guest_purchases_for_one_new_email_share_one_new_user(localstripe):
    plan = PricingPlanFactory(minutes=600, price_cents=14000)

    def initiate():
        return purchase_initiate(
            plan_id=plan.pk, buyer=None, student_name="Ana Silva", student_email="ana@example.com"
        )

    initiations = values_or_raise(run_together([initiate] * 10))

    guest = User.objects.get(email="ana@example.com")
    assert guest.is_guest
    assert not guest.has_usable_password()
    purchases = list(PurchaseTransaction.objects.all())
    assert len(purchases) == 10
    assert {purchase.student_id for purchase in purchases} == {guest.pk}
    assert {purchase.status for purchase in purchases} == {PurchaseTransaction.Status.PENDING}
    intent_ids = [purchase.stripe_payment_intent_id for purchase in purchases]
    assert None not in intent_ids
    assert len(set(intent_ids)) == 10
    assert {initiation.purchase.pk for initiation in initiations} == {p.pk for p in purchases}
    for purchase in purchases:
        intent = localstripe.retrieve(purchase.stripe_payment_intent_id)
        assert intent.metadata["transaction_id"] == str(purchase.pk)
        assert intent.amount == 14000
    assert StudentAccountBalance.objects.filter(student=guest).count() == 1


def _paid_in_its_own_transaction(purchase):
    def pay():
        with transaction.atomic(durable=True):
            return purchase_pay(purchase)

    return pay


def test_simultaneous_credits_for_one_student_all_reach_the_balance():
    student = UserFactory()
    plans = [
        PricingPlanFactory(minutes=minutes, price_cents=cents)
        for minutes, cents in [(600, 14000), (90, 2500), (300, 7000)]
    ]
    purchases = [
        PurchaseTransactionFactory(student=student, plan=plans[index % 3]) for index in range(9)
    ]

    values_or_raise(run_together([_paid_in_its_own_transaction(p) for p in purchases]))

    balance = StudentAccountBalance.objects.get(student=student)
    assert balance.purchased_minutes == sum(purchase.minutes for purchase in purchases)
    assert balance.remaining_minutes == balance.purchased_minutes == 2970
    assert balance.paid_cents == sum(purchase.amount_cents for purchase in purchases) == 70500
    credits = HoursLedgerEntry.objects.filter(
        student=student, entry_type=HoursLedgerEntry.EntryType.CREDIT
    )
    assert sorted(credits.values_list("purchase_transaction_id", flat=True)) == sorted(
        purchase.pk for purchase in purchases
    )
    assert set(
        PurchaseTransaction.objects.filter(student=student).values_list("status", flat=True)
    ) == {PurchaseTransaction.Status.COMPLETED}
    verification = ledger_verify()
    assert verification.problems == []


def test_simultaneous_first_credits_for_a_student_without_a_balance_row_create_one_row():
    student = UserFactory()
    # e.g. a user loaded from a fixture, where the post_save receiver did not run
    StudentAccountBalance.objects.filter(student=student).delete()
    purchases = [PurchaseTransactionFactory(student=student) for _ in range(6)]

    values_or_raise(run_together([_paid_in_its_own_transaction(p) for p in purchases]))

    balance = StudentAccountBalance.objects.get(student=student)
    assert balance.remaining_minutes == 6 * 600
    assert balance.paid_cents == 6 * 14000
    assert ledger_verify().problems == []
