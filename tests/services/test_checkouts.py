"""Abandoned checkouts expire: against localstripe (no webhook registered there), with time
moved past CHECKOUT_EXPIRY_HOURS. Only "processing" needs a fake Stripe: localstripe
cannot produce a processing PaymentIntent."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from finances.models import HoursLedgerEntry, PricingPlan, PurchaseTransaction
from finances.services.checkouts import ExpiryAction, abandoned_checkouts_expire
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory
from tests.support.operations_helpers import assert_ledger_clean, lot_entries
from tests.support.purchase_initiation_helpers import fake_stripe_running
from tests.support.reconciliation_helpers import created_at, initiated_purchase, quiet_localstripe
from tests.support.stripe_events import event, payment_intent_object, post_event

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
__all__ = ["quiet_localstripe"]


def _expire_a_day_later(**options):
    """Runs the expiry with the clock 25 hours ahead (ticking, so that localstripe's HTTP
    calls and their timeouts keep working)."""
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        return abandoned_checkouts_expire(**options)


def _fresh(purchase) -> PurchaseTransaction:
    purchase.refresh_from_db()
    return purchase


def _forget_payment_intent_id(purchase) -> str:
    """As if the initiating process died right after Stripe created the PaymentIntent."""
    payment_intent_id = purchase.stripe_payment_intent_id
    PurchaseTransaction.objects.filter(pk=purchase.pk).update(stripe_payment_intent_id=None)
    return payment_intent_id


def _only_result(run):
    (result,) = run.results
    return result


def test_an_open_checkout_is_cancelled_at_stripe_and_becomes_cancelled(quiet_localstripe):
    purchase = initiated_purchase()

    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        result = _only_result(abandoned_checkouts_expire())

    assert (result.action, result.stripe_status) == (ExpiryAction.CANCELLED, "canceled")
    assert quiet_localstripe.retrieve(purchase.stripe_payment_intent_id).status == "canceled"
    purchase = _fresh(purchase)
    assert purchase.status == Status.CANCELLED
    assert purchase.failure_reason == (
        "Checkout abandoned: not paid within 24 h; "
        f"PaymentIntent {purchase.stripe_payment_intent_id} cancelled at Stripe."
    )
    assert lot_entries(purchase) == []


def test_a_checkout_younger_than_the_setting_is_left_alone(quiet_localstripe, settings):
    settings.CHECKOUT_EXPIRY_HOURS = 48
    purchase = initiated_purchase()

    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        run = abandoned_checkouts_expire()

    assert run.results == []
    assert _fresh(purchase).status == Status.PENDING
    assert quiet_localstripe.retrieve(purchase.stripe_payment_intent_id).status == (
        "requires_payment_method"
    )


def test_a_declined_checkout_is_failed_not_final_and_also_expires(quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.decline(purchase.stripe_payment_intent_id)
    PurchaseTransaction.objects.filter(pk=purchase.pk).update(status=Status.FAILED)

    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        result = _only_result(abandoned_checkouts_expire())

    assert result.action == ExpiryAction.CANCELLED
    assert _fresh(purchase).status == Status.CANCELLED


def test_a_checkout_paid_meanwhile_is_credited_once(quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)

    first = _only_result(_expire_a_day_later())
    second = _expire_a_day_later()

    assert (first.action, first.stripe_status) == (ExpiryAction.CREDITED, "succeeded")
    assert second.results == []  # COMPLETED: no longer an abandoned checkout
    purchase = _fresh(purchase)
    assert purchase.status == Status.COMPLETED
    assert lot_entries(purchase) == [(EntryType.CREDIT, 600)]
    assert quiet_localstripe.retrieve(purchase.stripe_payment_intent_id).status == "succeeded"
    assert_ledger_clean()


def test_a_processing_payment_is_left_alone(settings):
    purchase = PurchaseTransactionFactory()
    later = timezone.now() + timedelta(hours=25)
    with fake_stripe_running(settings) as stripe_server:
        stripe_server.respond(200, payment_intent_object(purchase, status="processing"))

        result = _only_result(abandoned_checkouts_expire(now=later))

    assert (result.action, result.stripe_status) == (ExpiryAction.LEFT_PROCESSING, "processing")
    assert [request.method for request in stripe_server.requests] == ["GET"]  # no cancel
    purchase = _fresh(purchase)
    assert (purchase.status, purchase.failure_reason) == (Status.PENDING, "")


def test_processing_purchases_are_never_candidates(settings):
    purchase = PurchaseTransactionFactory(status=Status.PROCESSING)
    with fake_stripe_running(settings) as stripe_server:
        run = abandoned_checkouts_expire(now=timezone.now() + timedelta(days=30))

    assert run.results == []
    assert stripe_server.requests == []
    assert _fresh(purchase).status == Status.PROCESSING


def test_a_payment_intent_id_never_stored_is_found_by_its_metadata_and_cancelled(quiet_localstripe):
    purchase = initiated_purchase()
    payment_intent_id = _forget_payment_intent_id(purchase)
    initiated_purchase()  # another purchase's PaymentIntent is not mistaken for it

    results = _expire_a_day_later().results

    assert [result.action for result in results] == [ExpiryAction.CANCELLED] * 2
    purchase = _fresh(purchase)
    assert (purchase.status, purchase.stripe_payment_intent_id) == (
        Status.CANCELLED,
        payment_intent_id,
    )
    assert quiet_localstripe.retrieve(payment_intent_id).status == "canceled"


def test_a_payment_intent_id_never_stored_but_paid_is_adopted_and_credited(quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    payment_intent_id = _forget_payment_intent_id(purchase)

    result = _only_result(_expire_a_day_later())

    assert result.action == ExpiryAction.CREDITED
    purchase = _fresh(purchase)
    assert (purchase.status, purchase.stripe_payment_intent_id) == (
        Status.COMPLETED,
        payment_intent_id,
    )
    assert lot_entries(purchase) == [(EntryType.CREDIT, 600)]


def test_a_purchase_stripe_has_no_payment_intent_for_is_closed_as_failed_once(quiet_localstripe):
    purchase = created_at(
        PurchaseTransactionFactory(stripe_payment_intent_id=None),
        timezone.now() - timedelta(hours=25),
    )

    first = _only_result(_expire_a_day_later())
    second = _expire_a_day_later()

    assert first.action == ExpiryAction.CLOSED_FAILED
    assert second.results == []
    purchase = _fresh(purchase)
    assert purchase.status == Status.FAILED
    assert purchase.failure_reason == (
        "No PaymentIntent exists at Stripe for this purchase; closed by checkout expiry."
    )
    assert purchase.last_reconciled_at is not None


def test_a_success_on_a_withdrawn_plan_is_credited_as_paid_and_flagged(quiet_localstripe):
    plan = PricingPlanFactory(minutes=2400, price_cents=9900)  # a promotion: 40 h for 99.00
    purchase = created_at(initiated_purchase(plan=plan), timezone.now() - timedelta(days=60))
    PricingPlan.objects.filter(pk=plan.pk).update(is_active=False)
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)

    result = _only_result(abandoned_checkouts_expire())

    assert result.action == ExpiryAction.CREDITED
    purchase = _fresh(purchase)
    assert purchase.status == Status.COMPLETED
    assert HoursLedgerEntry.objects.filter(purchase_transaction=purchase).values_list(
        "entry_type", "minutes", "amount_cents"
    ).get() == (EntryType.CREDIT, 2400, 9900)
    assert purchase.needs_review is True
    reasons = purchase.review_reason.splitlines()
    assert (
        f"Paid on plan {plan.name}, withdrawn since the purchase; credited as bought: "
        "2400 minutes for 99.00 EUR." in reasons
    )
    assert any(reason.startswith("Paid 1440.") for reason in reasons), reasons


def test_a_success_on_a_repriced_plan_says_what_the_plan_costs_now(api_client):
    plan = PricingPlanFactory(minutes=2400, price_cents=9900)
    purchase = PurchaseTransactionFactory(plan=plan)
    PricingPlan.objects.filter(pk=plan.pk).update(price_cents=48000)

    response = post_event(
        api_client, event("payment_intent.succeeded", payment_intent_object(purchase))
    )

    assert response.json()["status"] == "PROCESSED"
    purchase = _fresh(purchase)
    assert (purchase.status, purchase.needs_review) == (Status.COMPLETED, True)
    assert purchase.review_reason == (
        f"Paid on plan {plan.name}, now 2400 minutes for 480.00 EUR since the purchase; "
        "credited as bought: 2400 minutes for 99.00 EUR."
    )
    assert lot_entries(purchase) == [(EntryType.CREDIT, 2400)]


def test_a_success_arriving_after_the_checkout_expired_is_credited_and_flagged(
    quiet_localstripe, api_client
):
    purchase = initiated_purchase()
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        abandoned_checkouts_expire()
        assert _fresh(purchase).status == Status.CANCELLED

        # Stripe's answer to a payment made just before the cancel, delivered late.
        response = post_event(
            api_client, event("payment_intent.succeeded", payment_intent_object(purchase))
        )

    assert response.json()["status"] == "PROCESSED"
    purchase = _fresh(purchase)
    assert (purchase.status, purchase.needs_review) == (Status.COMPLETED, True)
    reasons = purchase.review_reason.splitlines()
    assert "Stripe reports a payment for a purchase we had cancelled; credited, check why." in (
        reasons
    )
    assert any(reason.startswith("Paid 25.") for reason in reasons), reasons
    assert lot_entries(purchase) == [(EntryType.CREDIT, 600)]


def test_a_dry_run_changes_nothing_here_or_at_stripe(quiet_localstripe):
    open_checkout = initiated_purchase()
    paid = initiated_purchase()
    quiet_localstripe.pay(paid.stripe_payment_intent_id)
    before = list(PurchaseTransaction.objects.order_by("pk").values())

    run = _expire_a_day_later(dry_run=True)

    assert sorted(result.action for result in run.results) == [
        ExpiryAction.CANCELLED,
        ExpiryAction.CREDITED,
    ]
    assert all(result.dry_run for result in run.results)
    assert list(PurchaseTransaction.objects.order_by("pk").values()) == before
    assert not HoursLedgerEntry.objects.exists()
    assert quiet_localstripe.retrieve(open_checkout.stripe_payment_intent_id).status == (
        "requires_payment_method"
    )


def test_running_twice_changes_nothing_more(quiet_localstripe):
    cancelled, paid = initiated_purchase(), initiated_purchase()
    quiet_localstripe.pay(paid.stripe_payment_intent_id)
    _expire_a_day_later()
    after_first = list(PurchaseTransaction.objects.order_by("pk").values())
    entries = list(HoursLedgerEntry.objects.values_list("pk", flat=True))

    second = _expire_a_day_later()

    assert second.results == []
    assert list(PurchaseTransaction.objects.order_by("pk").values()) == after_first
    assert list(HoursLedgerEntry.objects.values_list("pk", flat=True)) == entries
    assert (_fresh(cancelled).status, _fresh(paid).status) == (Status.CANCELLED, Status.COMPLETED)


def test_the_limit_bounds_the_work_of_one_run_oldest_first(quiet_localstripe):
    purchases = [initiated_purchase() for _ in range(3)]

    run = _expire_a_day_later(limit=2)

    assert [result.purchase_id for result in run.results] == [p.pk for p in purchases[:2]]
    assert _fresh(purchases[2]).status == Status.PENDING


def test_stripe_unreachable_is_an_error_and_the_purchase_stays_pending():
    purchase = PurchaseTransactionFactory()

    run = abandoned_checkouts_expire(now=timezone.now() + timedelta(hours=25))

    assert [result.action for result in run.errors] == [ExpiryAction.ERROR]
    assert run.errors[0].message.startswith("Stripe could not be asked: ")
    assert _fresh(purchase).status == Status.PENDING
