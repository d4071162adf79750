"""invoice.paid and invoice.payment_succeeded for one invoice, delivered at the same time
from several threads on PostgreSQL: the period is granted exactly once."""

import json
from datetime import UTC, datetime

import pytest
from django.test import Client

from finances.models import (
    HoursLedgerEntry,
    PurchaseTransaction,
    StudentAccountBalance,
    SubscriptionPeriod,
)
from finances.services.ledger_verification import ledger_verify
from tests.factories import SubscriptionPlanFactory
from tests.support.concurrent_threads import run_together, values_or_raise
from tests.support.stripe_events import event, post_event, sign
from tests.support.subscriptions import invoice_object, subscription_record

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

MARCH = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _delivery(document: dict):
    body = json.dumps(document)
    signature = sign(body)

    def deliver() -> tuple[int, dict]:
        response = post_event(Client(), body, signature=signature)
        return response.status_code, response.json()

    return deliver


def test_both_invoice_events_at_once_from_many_threads_grant_the_period_once():
    plan = SubscriptionPlanFactory(slug="monthly-15", minutes=900, price_cents=11900)
    subscription = subscription_record(plan=plan)
    invoice = invoice_object(
        subscription,
        invoice_id="in_race",
        period_start=MARCH,
        period_end=APRIL,
        payment_intent_id="pi_race",
    )
    paid = _delivery(event("invoice.paid", invoice))
    succeeded = _delivery(event("invoice.payment_succeeded", invoice))

    results = values_or_raise(run_together([paid, succeeded] * 4))

    assert [status for status, _ in results] == [200] * 8
    assert {body["status"] for _, body in results} == {"PROCESSED"}
    period = SubscriptionPeriod.objects.get()
    assert period.stripe_invoice_id == "in_race"
    purchase = PurchaseTransaction.objects.get()
    assert period.purchase == purchase
    credit = HoursLedgerEntry.objects.get(student=subscription.student)
    assert (credit.entry_type, credit.minutes, credit.purchase_transaction) == (
        HoursLedgerEntry.EntryType.CREDIT,
        900,
        purchase,
    )
    balance = StudentAccountBalance.objects.get(student=subscription.student)
    assert (balance.purchased_minutes, balance.remaining_minutes) == (900, 900)
    assert ledger_verify().problems == []
