"""Reconciliation asks localstripe what became of each purchase and applies what no
webhook told us (no webhook is registered): payments, refunds, cancellations, declines."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.reconciliation import payments_reconcile, purchase_reconcile
from tests.factories import PurchaseTransactionFactory, UserFactory, WebhookEventLogFactory
from tests.support.operations_helpers import assert_ledger_clean, balance_of, lot_entries
from tests.support.reconciliation_helpers import initiated_purchase, quiet_localstripe

pytestmark = pytest.mark.django_db

Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
__all__ = ["quiet_localstripe"]


def _reconcile(**options):
    return payments_reconcile(older_than=timedelta(0), **{"events_since": None, **options})


@pytest.fixture
def purchases_in_every_state(quiet_localstripe):
    stripe = quiet_localstripe
    purchases = {
        name: initiated_purchase()
        for name in ("paid", "partly_refunded", "refunded", "cancelled", "untouched", "declined")
    }
    for name in ("paid", "partly_refunded", "refunded"):
        stripe.pay(purchases[name].stripe_payment_intent_id)
    stripe.refund(purchases["partly_refunded"].stripe_payment_intent_id, amount_cents=7000)
    stripe.refund(purchases["refunded"].stripe_payment_intent_id)
    stripe.cancel(purchases["cancelled"].stripe_payment_intent_id)
    stripe.decline(purchases["declined"].stripe_payment_intent_id)
    return purchases


def _fresh(purchase) -> PurchaseTransaction:
    purchase.refresh_from_db()
    return purchase


def test_reconciliation_brings_every_purchase_in_line_with_stripe(purchases_in_every_state):
    purchases = purchases_in_every_state

    run = _reconcile()

    assert run.errors == []
    by_id = {result.purchase_id: result for result in run.purchases}
    assert {name: by_id[p.pk].stripe_status for name, p in purchases.items()} == {
        "paid": "succeeded",
        "partly_refunded": "succeeded",
        "refunded": "succeeded",
        "cancelled": "canceled",
        "untouched": "requires_payment_method",
        "declined": "requires_payment_method",
    }
    assert {name: by_id[p.pk].changed for name, p in purchases.items()} == {
        "paid": True,
        "partly_refunded": True,
        "refunded": True,
        "cancelled": True,
        "untouched": False,
        "declined": True,
    }
    statuses = {name: _fresh(purchase).status for name, purchase in purchases.items()}
    assert statuses == {
        "paid": Status.COMPLETED,
        "partly_refunded": Status.COMPLETED,
        "refunded": Status.REFUNDED,
        "cancelled": Status.CANCELLED,
        "untouched": Status.PENDING,
        "declined": Status.FAILED,
    }


def test_a_payment_found_at_stripe_is_completed_and_credited_once(purchases_in_every_state):
    paid = purchases_in_every_state["paid"]

    _reconcile()

    paid = _fresh(paid)
    assert paid.paid_at is not None
    assert paid.expires_at == paid.paid_at + timedelta(days=45)
    assert lot_entries(paid) == [(EntryType.CREDIT, 600)]
    balance = balance_of(paid.student)
    assert (balance.remaining_minutes, balance.paid_cents) == (600, 14000)
    assert_ledger_clean()


def test_a_partial_refund_found_at_stripe_takes_back_hours_in_proportion(
    purchases_in_every_state,
):
    purchase = purchases_in_every_state["partly_refunded"]

    _reconcile()

    purchase = _fresh(purchase)
    assert (purchase.status, purchase.refunded_amount_cents) == (Status.COMPLETED, 7000)
    assert list(
        HoursLedgerEntry.objects.filter(purchase_transaction=purchase)
        .order_by("id")
        .values_list("entry_type", "minutes", "amount_cents")
    ) == [(EntryType.CREDIT, 600, 14000), (EntryType.REFUND_REVERSAL, -300, -7000)]
    balance = balance_of(purchase.student)
    assert (balance.remaining_minutes, balance.refunded_minutes, balance.refunded_cents) == (
        300,
        300,
        7000,
    )
    assert_ledger_clean()


def test_a_full_refund_found_at_stripe_refunds_the_purchase_and_its_hours(
    purchases_in_every_state,
):
    purchase = purchases_in_every_state["refunded"]

    _reconcile()

    purchase = _fresh(purchase)
    assert (purchase.status, purchase.refunded_amount_cents) == (Status.REFUNDED, 14000)
    assert lot_entries(purchase) == [(EntryType.CREDIT, 600), (EntryType.REFUND_REVERSAL, -600)]
    balance = balance_of(purchase.student)
    assert (balance.remaining_minutes, balance.paid_cents, balance.refunded_cents) == (
        0,
        14000,
        14000,
    )
    assert_ledger_clean()


def test_cancelled_untouched_and_declined_purchases_get_no_hours(purchases_in_every_state):
    cancelled, untouched, declined = (
        purchases_in_every_state[name] for name in ("cancelled", "untouched", "declined")
    )

    _reconcile()

    assert _fresh(declined).failure_reason
    for purchase in (cancelled, untouched, declined):
        assert lot_entries(purchase) == []
        assert balance_of(purchase.student).remaining_minutes == 0
    assert_ledger_clean()


def _purchase_states() -> list[dict]:
    """Every purchase column except when reconciliation last asked about it."""
    return [
        {k: v for k, v in row.items() if k not in ("last_reconciled_at", "next_reconciliation_at")}
        for row in PurchaseTransaction.objects.order_by("id").values()
    ]


def test_a_second_reconciliation_changes_nothing(purchases_in_every_state):
    # Our clock stands still across both runs (localstripe keeps its own), so an open
    # purchase's backoff (a quarter of its age: seconds, here) cannot run out between
    # them however slowly the first run goes.
    with time_machine.travel(timezone.now(), tick=False):
        _reconcile()
        entries_before = list(HoursLedgerEntry.objects.order_by("id").values_list("id", flat=True))
        purchases_before = _purchase_states()

        again = _reconcile()

    assert again.errors == []
    assert [result for result in again.purchases if result.changed] == []
    # Completed and refunded purchases are checked again (refunds may arrive or fail);
    # closed ones are not, and open ones just checked wait for their backoff.
    assert {result.purchase_id for result in again.purchases} == {
        purchases_in_every_state[name].pk for name in ("paid", "partly_refunded", "refunded")
    }
    assert list(HoursLedgerEntry.objects.order_by("id").values_list("id", flat=True)) == (
        entries_before
    )
    assert _purchase_states() == purchases_before
    assert_ledger_clean()


def test_open_only_does_not_look_for_refunds_of_completed_purchases(quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    _reconcile()
    quiet_localstripe.refund(purchase.stripe_payment_intent_id)

    open_only = _reconcile(include_completed=False)
    everything = _reconcile()

    assert open_only.purchases == []
    assert [result.changed for result in everything.purchases] == [True]
    assert _fresh(purchase).status == Status.REFUNDED


def test_only_purchases_older_than_the_threshold_are_checked(quiet_localstripe):
    recent = initiated_purchase()
    quiet_localstripe.pay(recent.stripe_payment_intent_id)

    run = payments_reconcile(older_than=timedelta(minutes=30), events_since=None)

    assert run.purchases == []
    assert _fresh(recent).status == Status.PENDING


def test_the_events_backfill_records_and_processes_the_events_the_log_never_got(
    quiet_localstripe,
):
    paid, declined = initiated_purchase(), initiated_purchase()
    quiet_localstripe.pay(paid.stripe_payment_intent_id)
    quiet_localstripe.decline(declined.stripe_payment_intent_id)
    stripe_events = {event.type: event.id for event in quiet_localstripe.events()}
    assert set(stripe_events) == {"payment_intent.succeeded", "payment_intent.payment_failed"}

    # Both purchases are too recent for the purchase check: only the backfill sees them.
    run = payments_reconcile(events_since=timedelta(hours=1))

    assert run.purchases == []
    assert run.errors == []
    assert run.events_listed == 2
    assert sorted(run.events_missing) == sorted(stripe_events.values())
    logs = WebhookEventLog.objects.filter(stripe_event_id__in=stripe_events.values())
    assert set(logs.values_list("source", "status")) == {
        (WebhookEventLog.Source.RECONCILIATION, WebhookEventLog.Status.PROCESSED)
    }
    assert logs.get(event_type="payment_intent.succeeded").purchase_transaction_id == paid.pk
    assert _fresh(paid).status == Status.COMPLETED
    assert lot_entries(paid) == [(EntryType.CREDIT, 600)]
    assert _fresh(declined).status == Status.FAILED

    again = payments_reconcile(events_since=timedelta(hours=1))

    assert (again.events_listed, again.events_missing, again.errors) == (2, [], [])
    assert WebhookEventLog.objects.count() == 2
    assert_ledger_clean()


def test_the_backfill_leaves_alone_events_the_webhook_already_delivered(quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    (stripe_event,) = quiet_localstripe.events("payment_intent.succeeded")
    WebhookEventLogFactory(stripe_event_id=stripe_event.id, status=WebhookEventLog.Status.FAILED)

    run = payments_reconcile(events_since=timedelta(hours=1))

    assert (run.events_listed, run.events_missing) == (1, [])
    assert WebhookEventLog.objects.get().source == WebhookEventLog.Source.WEBHOOK
    assert _fresh(purchase).status == Status.PENDING


def test_stripe_being_unreachable_is_reported_for_every_purchase_and_the_event_list():
    purchases = [PurchaseTransactionFactory() for _ in range(2)]  # Stripe: a refusing port

    run = payments_reconcile(older_than=timedelta(0), events_since=timedelta(hours=1))

    assert len(run.errors) == 3
    assert {result.purchase_id for result in run.purchases if result.error} == {
        purchase.pk for purchase in purchases
    }
    assert all("unavailable" in result.error for result in run.purchases)
    assert run.event_errors[0].startswith("Listing Stripe events failed")
    assert {_fresh(purchase).status for purchase in purchases} == {Status.PENDING}


def test_a_purchase_without_a_payment_intent_cannot_be_reconciled():
    purchase = PurchaseTransactionFactory(stripe_payment_intent_id=None)

    result = purchase_reconcile(purchase=purchase)

    assert result.error == "No PaymentIntent id was stored."
    assert result.outcomes == []


def test_a_payment_intent_stripe_does_not_know_is_reported(quiet_localstripe):
    purchase = PurchaseTransactionFactory(student=UserFactory(), stripe_payment_intent_id="pi_nope")

    result = purchase_reconcile(purchase=purchase)

    assert result.error
    assert result.outcomes == []
    assert _fresh(purchase).status == Status.PENDING
