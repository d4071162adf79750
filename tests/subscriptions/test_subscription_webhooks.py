"""Stripe Billing events in today's shape, signed, through the webhook endpoint: one grant
per paid invoice whichever event reports it, the invoice's PaymentIntent never credited,
refunds and disputes per period, out-of-order subscription events, rollover."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from finances.models import (
    HoursLedgerEntry,
    PurchaseTransaction,
    Subscription,
    SubscriptionPeriod,
    WebhookEventLog,
)
from finances.services.expiry import packages_expire
from finances.services.ledger_verification import ledger_verify
from tests.factories import SubscriptionPlanFactory
from tests.support.stripe_events import (
    charge_object,
    dispute_object,
    event,
    payment_intent_object,
    post_event,
)
from tests.support.subscriptions import invoice_object, subscription_object, subscription_record
from tests.support.webhook_pipeline_helpers import ledger_rows

pytestmark = pytest.mark.django_db
EntryType = HoursLedgerEntry.EntryType
Status = Subscription.Status

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
MAY = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def subscription():
    plan = SubscriptionPlanFactory(slug="monthly-15", minutes=900, price_cents=11900)
    return subscription_record(plan=plan)


def deliver(api_client, event_type: str, data_object: dict, **options) -> dict:
    response = post_event(api_client, event(event_type, data_object, **options))
    assert response.status_code == 200, response.content
    return response.json()


def credits(student) -> list[int]:
    return list(
        HoursLedgerEntry.objects.filter(student=student, entry_type=EntryType.CREDIT)
        .order_by("created_at", "id")
        .values_list("minutes", flat=True)
    )


def march_invoice(subscription, **options) -> dict:
    return invoice_object(
        subscription,
        invoice_id="in_march",
        period_start=NOW,
        period_end=APRIL,
        payment_intent_id="pi_march",
        **options,
    )


def test_invoice_paid_and_invoice_payment_succeeded_for_one_invoice_grant_once(
    api_client, subscription
):
    invoice = march_invoice(subscription)

    first = deliver(api_client, "invoice.paid", invoice)
    second = deliver(api_client, "invoice.payment_succeeded", invoice)

    assert (first["status"], second["status"]) == ("PROCESSED", "PROCESSED")
    assert credits(subscription.student) == [900]
    purchase = PurchaseTransaction.objects.get()
    assert (purchase.status, purchase.amount_cents) == ("COMPLETED", 11900)
    assert purchase.stripe_payment_intent_id == "pi_march"
    assert (purchase.paid_at, purchase.expires_at) == (NOW, APRIL)
    period = SubscriptionPeriod.objects.get()
    assert (period.period_start, period.period_end, period.purchase) == (NOW, APRIL, purchase)
    assert not period.period_advanced_locally
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == (NOW, APRIL)
    assert ledger_verify().problems == []


def test_the_old_shape_names_the_subscription_and_payment_intent_on_the_invoice(
    api_client, subscription
):
    invoice = march_invoice(subscription, shape="old", charge_id="ch_march")

    deliver(api_client, "invoice.payment_succeeded", invoice, api_version="2017-08-15")

    purchase = PurchaseTransaction.objects.get()
    assert (purchase.stripe_payment_intent_id, purchase.stripe_charge_id) == (
        "pi_march",
        "ch_march",
    )
    assert credits(subscription.student) == [900]


@pytest.mark.parametrize("with_invoice_field", [False, True])
def test_the_invoices_payment_intent_succeeded_credits_nothing(
    api_client, subscription, with_invoice_field
):
    intent = payment_intent_object(
        payment_intent_id="pi_march", amount=11900, currency="EUR", metadata={}
    )
    if with_invoice_field:
        intent["invoice"] = "in_march"

    before = deliver(api_client, "payment_intent.succeeded", intent)
    deliver(api_client, "invoice.paid", march_invoice(subscription))
    after = deliver(api_client, "payment_intent.succeeded", intent)

    assert before["status"] == "IGNORED"
    # Old shape: answered as the invoice's; current shape: the period's purchase is found,
    # already COMPLETED, and nothing changes.
    assert after["status"] == ("IGNORED" if with_invoice_field else "PROCESSED")
    assert credits(subscription.student) == [900]
    assert PurchaseTransaction.objects.get().status == "COMPLETED"


def test_a_refund_of_one_periods_charge_takes_back_that_periods_hours(api_client, subscription):
    deliver(api_client, "invoice.paid", march_invoice(subscription))
    april = invoice_object(
        subscription,
        invoice_id="in_april",
        period_start=APRIL,
        period_end=MAY,
        payment_intent_id="pi_april",
    )
    deliver(api_client, "invoice.paid", april)
    april_purchase = SubscriptionPeriod.objects.get(stripe_invoice_id="in_april").purchase

    charge = charge_object(
        april_purchase, charge_id="ch_april", payment_intent_id="pi_april", amount_refunded=11900
    )
    result = deliver(api_client, "charge.refunded", charge)

    assert result["status"] == "PROCESSED"
    april_purchase.refresh_from_db()
    assert april_purchase.status == PurchaseTransaction.Status.REFUNDED
    assert ledger_rows(april_purchase) == [
        (EntryType.CREDIT, 900, 11900),
        (EntryType.REFUND_REVERSAL, -900, -11900),
    ]
    march_purchase = SubscriptionPeriod.objects.get(stripe_invoice_id="in_march").purchase
    assert ledger_rows(march_purchase) == [(EntryType.CREDIT, 900, 11900)]
    assert ledger_verify().problems == []


def test_a_dispute_on_a_periods_charge_holds_that_periods_unused_hours(api_client, subscription):
    deliver(api_client, "invoice.paid", march_invoice(subscription, shape="old", charge_id="ch_m"))
    purchase = PurchaseTransaction.objects.get()

    dispute = dispute_object(purchase, dispute_id="dp_sub", shape="charge_only")
    result = deliver(api_client, "charge.dispute.created", dispute)

    assert result["status"] == "PROCESSED"
    purchase.refresh_from_db()
    assert purchase.needs_review
    assert ledger_rows(purchase)[-1] == (EntryType.DISPUTE_HOLD, -900, 0)
    assert ledger_verify().problems == []


def test_a_paid_invoice_that_does_not_match_the_plan_credits_nothing_and_is_flagged(
    api_client, subscription
):
    result = deliver(api_client, "invoice.paid", march_invoice(subscription, amount=100))

    assert result["status"] == "FAILED"  # flagged for a person
    assert credits(subscription.student) == []
    period = SubscriptionPeriod.objects.get()
    assert period.purchase is None
    assert period.needs_review
    subscription.refresh_from_db()
    assert subscription.needs_review
    assert "amount 100 != expected 11900" in subscription.review_reason


@pytest.mark.parametrize("status", [Status.UNPAID, Status.CANCELED])
def test_unpaid_or_cancelled_subscriptions_get_no_grant(api_client, subscription, status):
    Subscription.objects.filter(pk=subscription.pk).update(status=status)

    deliver(api_client, "invoice.paid", march_invoice(subscription))

    assert credits(subscription.student) == []
    assert SubscriptionPeriod.objects.get().needs_review


def test_a_period_that_does_not_advance_is_advanced_by_one_interval_and_logged(
    api_client, subscription, caplog
):
    deliver(api_client, "invoice.paid", march_invoice(subscription))
    stale = invoice_object(subscription, invoice_id="in_stale", period_start=NOW, period_end=APRIL)

    deliver(api_client, "invoice.payment_succeeded", stale)

    period = SubscriptionPeriod.objects.get(stripe_invoice_id="in_stale")
    assert (period.period_start, period.period_end) == (APRIL, MAY)
    assert period.period_advanced_locally
    assert "subscription.period_not_advanced" in caplog.text
    assert credits(subscription.student) == [900, 900]


def test_an_older_subscription_event_never_overwrites_a_newer_state(api_client, subscription):
    cancelled = subscription_object(subscription, status="canceled")
    still_active = subscription_object(subscription, status="active", cancel_at_period_end=True)

    deliver(api_client, "customer.subscription.deleted", cancelled, created=int(NOW.timestamp()))
    late = deliver(
        api_client,
        "customer.subscription.updated",
        still_active,
        created=int(NOW.timestamp()) - 60,
    )

    assert late["status"] == "PROCESSED"
    subscription.refresh_from_db()
    assert subscription.status == Status.CANCELED
    assert not subscription.cancel_at_period_end


def test_a_newer_update_applies_and_a_final_status_is_never_left(api_client, subscription):
    now = int(NOW.timestamp())
    deliver(
        api_client,
        "customer.subscription.updated",
        subscription_object(
            subscription, cancel_at_period_end=True, period_start=NOW, period_end=APRIL
        ),
        created=now,
    )
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    assert subscription.current_period_end == APRIL

    deliver(
        api_client,
        "customer.subscription.deleted",
        subscription_object(subscription, status="canceled"),
        created=now + 1,
    )
    deliver(
        api_client,
        "customer.subscription.updated",
        subscription_object(subscription),
        created=now + 2,
    )

    subscription.refresh_from_db()
    assert subscription.status == Status.CANCELED


def test_an_invoice_paid_before_the_subscription_id_was_stored_is_matched_by_metadata(
    api_client, subscription
):
    invoice = march_invoice(subscription)
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id=None)

    deliver(api_client, "invoice.paid", invoice)

    subscription.refresh_from_db()
    assert (
        subscription.stripe_subscription_id
        == invoice["parent"]["subscription_details"]["subscription"]
    )
    assert credits(subscription.student) == [900]


def test_an_event_for_our_subscription_not_recorded_yet_fails_and_is_retried(
    api_client, subscription
):
    invoice = march_invoice(subscription)
    invoice["parent"]["subscription_details"]["subscription"] = "sub_unknown"
    invoice["parent"]["subscription_details"]["metadata"]["subscription_id"] = (
        "00000000-0000-0000-0000-000000000000"
    )

    response = post_event(api_client, event("invoice.paid", invoice))

    assert response.status_code == 500
    log = WebhookEventLog.objects.get()
    assert (log.status, log.next_retry_at is not None) == ("FAILED", True)


def test_invoice_payment_paid_stores_the_payment_intent_for_refunds(api_client, subscription):
    invoice = march_invoice(subscription)
    del invoice["payments"]  # the current API does not include them in the event
    deliver(api_client, "invoice.paid", invoice)
    purchase = PurchaseTransaction.objects.get()
    assert purchase.stripe_payment_intent_id is None

    deliver(
        api_client,
        "invoice_payment.paid",
        {
            "id": "inpay_1",
            "object": "invoice_payment",
            "invoice": "in_march",
            "status": "paid",
            "payment": {"type": "payment_intent", "payment_intent": "pi_march"},
        },
    )

    purchase.refresh_from_db()
    assert purchase.stripe_payment_intent_id == "pi_march"
    assert SubscriptionPeriod.objects.get().stripe_payment_intent_id == "pi_march"


def test_rollover_keeps_a_periods_hours_one_more_period_then_the_expiry_job_takes_them(
    api_client, subscription, frozen
):
    type(subscription.plan).objects.filter(pk=subscription.plan_id).update(rollover_periods=1)

    deliver(api_client, "invoice.paid", march_invoice(subscription))
    purchase = PurchaseTransaction.objects.get()
    assert purchase.expires_at == MAY

    frozen.move_to(APRIL + timedelta(hours=1))
    packages_expire()
    assert [row[0] for row in ledger_rows(purchase)] == [EntryType.CREDIT]

    frozen.move_to(MAY + timedelta(hours=1))
    packages_expire()
    assert ledger_rows(purchase)[-1] == (EntryType.EXPIRY, -900, 0)
    assert ledger_verify().problems == []


def test_a_late_created_event_saying_incomplete_does_not_undo_a_paid_subscription(
    api_client, subscription
):
    Subscription.objects.filter(pk=subscription.pk).update(status=Status.INCOMPLETE)
    deliver(api_client, "invoice.paid", march_invoice(subscription))

    deliver(
        api_client,
        "customer.subscription.created",
        subscription_object(subscription, status="incomplete"),
        created=int(NOW.timestamp()) + 5,  # even when it looks newer
    )

    subscription.refresh_from_db()
    assert subscription.status == Status.ACTIVE


def test_an_invoice_without_its_payment_intent_gets_it_from_invoice_payments(
    api_client, subscription, monkeypatch
):
    from finances import stripe_billing
    from finances.services.subscription_invoices import subscription_period_payment_attach

    invoice = march_invoice(subscription)
    del invoice["payments"]
    deliver(api_client, "invoice.paid", invoice)
    period = SubscriptionPeriod.objects.get()
    asked = []

    def invoice_payment_find(*, invoice_id):
        asked.append(invoice_id)
        return "pi_from_invoice_payments", "ch_from_invoice_payments"

    monkeypatch.setattr(stripe_billing, "invoice_payment_find", invoice_payment_find)
    subscription_period_payment_attach(period_id=period.pk)
    subscription_period_payment_attach(period_id=period.pk)

    assert asked == ["in_march"]
    purchase = PurchaseTransaction.objects.get()
    assert (purchase.stripe_payment_intent_id, purchase.stripe_charge_id) == (
        "pi_from_invoice_payments",
        "ch_from_invoice_payments",
    )
