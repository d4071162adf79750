"""Checkout expiry racing itself and a late webhook (PostgreSQL, threads, localstripe):
the purchase lock makes every checkout end once, with at most one credit."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.checkouts import ExpiryAction, abandoned_checkouts_expire
from tests.support.concurrent_threads import run_together
from tests.support.operations_helpers import assert_ledger_clean, lot_entries
from tests.support.reconciliation_helpers import initiated_purchase, quiet_localstripe
from tests.support.stripe_events import event, payment_intent_object, post_event

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
__all__ = ["quiet_localstripe"]


def _a_day_later():
    return timezone.now() + timedelta(hours=25)


def test_two_expiry_runs_at_once_cancel_each_checkout_once(quiet_localstripe):
    purchases = [initiated_purchase() for _ in range(3)]
    later = _a_day_later()

    outcomes = run_together([lambda: abandoned_checkouts_expire(now=later)] * 2)

    assert [outcome.error for outcome in outcomes] == [None, None]
    actions = [result.action for outcome in outcomes for result in outcome.value.results]
    assert ExpiryAction.ERROR not in actions
    assert actions.count(ExpiryAction.CANCELLED) == 3  # the rest: UNCHANGED or skipped
    for purchase in purchases:
        purchase.refresh_from_db()
        assert purchase.status == Status.CANCELLED
        assert quiet_localstripe.retrieve(purchase.stripe_payment_intent_id).status == "canceled"


def test_expiry_and_a_late_success_webhook_at_once_credit_exactly_once(quiet_localstripe):
    purchase = initiated_purchase()
    document = event("payment_intent.succeeded", payment_intent_object(purchase))
    later = _a_day_later()

    outcomes = run_together(
        [
            lambda: abandoned_checkouts_expire(now=later),
            lambda: post_event(Client(), document).status_code,
        ]
    )

    assert [outcome.error for outcome in outcomes] == [None, None]
    assert outcomes[1].value == 200
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED  # whichever came first, the payment wins
    assert lot_entries(purchase) == [(EntryType.CREDIT, purchase.minutes)]
    assert_ledger_clean()
