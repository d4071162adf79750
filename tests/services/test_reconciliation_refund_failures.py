"""Reconciliation applies Stripe's refunded total even when it is lower than the one
recorded (a refund failed after it was reported), for REFUNDED purchases too."""

from datetime import timedelta

import pytest

from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.reconciliation import payments_reconcile
from tests.support.operations_helpers import assert_ledger_clean, unused_minutes
from tests.support.payments import purchase_refund
from tests.support.reconciliation_helpers import initiated_purchase, quiet_localstripe

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
__all__ = ["quiet_localstripe"]


def _reconcile():
    return payments_reconcile(older_than=timedelta(0), events_since=None)


@pytest.fixture
def paid(quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    _reconcile()
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    return purchase


def test_a_full_refund_that_failed_at_stripe_is_undone_by_reconciliation(paid):
    purchase_refund(paid, refunded_total_cents=14000)  # reported, then failed at Stripe
    assert paid.status == Status.REFUNDED

    run = _reconcile()

    paid.refresh_from_db()
    assert run.errors == []
    assert paid.status == Status.COMPLETED
    assert paid.refunded_amount_cents == 0
    assert unused_minutes(paid) == 600
    assert paid.needs_review
    assert HoursLedgerEntry.objects.filter(
        purchase_transaction=paid, entry_type=EntryType.REFUND_FAILURE
    ).exists()
    assert_ledger_clean()


def test_a_failed_part_of_the_refunds_is_given_back_and_the_rest_stays_refunded(
    paid, quiet_localstripe
):
    quiet_localstripe.refund(paid.stripe_payment_intent_id, amount_cents=5000)
    purchase_refund(paid, refunded_total_cents=14000)  # a second refund of 9000 failed

    _reconcile()

    paid.refresh_from_db()
    assert paid.refunded_amount_cents == 5000
    assert paid.status == Status.COMPLETED
    assert unused_minutes(paid) == 600 - 600 * 5000 // 14000
    assert_ledger_clean()


def test_reconciling_again_after_a_failure_changes_nothing(paid):
    purchase_refund(paid, refunded_total_cents=7000)
    _reconcile()
    entries = HoursLedgerEntry.objects.count()

    again = _reconcile()

    assert [result for result in again.purchases if result.changed] == []
    assert HoursLedgerEntry.objects.count() == entries
