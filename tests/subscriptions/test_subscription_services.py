"""Subscription services on their own: the payer's Stripe Customer created once, Stripe
Plans per price, a plan change granting the new plan's hours from the next period, a
create whose answer was lost adopted by reconciliation, bounded reconciliation, and the
notifications as the payer reads them."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone

from finances.errors import PaymentProviderUnavailable
from finances.models import HoursLedgerEntry, StripeCustomer, Subscription, SubscriptionPeriod
from finances.services.purchases import CheckoutInProgress
from finances.services.subscription_customers import (
    pricing_plan_stripe_plan_ensure,
    stripe_customer_ensure,
)
from finances.services.subscription_invoices import invoice_paid_apply, invoice_payment_failed_apply
from finances.services.subscription_reconciliation import subscriptions_reconcile
from finances.services.subscription_start import (
    SubscriptionExists,
    subscription_create,
    subscription_id_for_checkout_key,
)
from finances.stripe_billing_payloads import invoice_parse
from notifications.models import Notification
from notifications.services import notification_send
from tests.factories import SubscriptionPlanFactory, UserFactory
from tests.support.subscriptions import invoice_object, subscription_record

pytestmark = pytest.mark.django_db
MARCH = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
MAY = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def apply_paid(document: dict):
    with transaction.atomic():
        return invoice_paid_apply(invoice=invoice_parse(document))


def test_the_payers_stripe_customer_is_created_once_and_then_read_from_the_database(
    localstripe, settings
):
    guardian = UserFactory(email="mae@example.com")

    first = stripe_customer_ensure(user=guardian)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # Stripe unreachable from here on
    second = stripe_customer_ensure(user=guardian)

    assert first == second
    assert first.startswith("cus_")
    assert StripeCustomer.objects.get(user=guardian).stripe_customer_id == first


def test_a_repriced_plan_gets_a_new_stripe_plan_and_the_old_one_is_left_alone(localstripe):
    plan = SubscriptionPlanFactory(slug="reprice", price_cents=11900)
    old = pricing_plan_stripe_plan_ensure(plan=plan)
    assert pricing_plan_stripe_plan_ensure(plan=plan) == old

    plan.price_cents = 12900
    plan.save()
    new = pricing_plan_stripe_plan_ensure(plan=plan)

    assert (old, new) == ("aprende-reprice-11900-eur-month", "aprende-reprice-12900-eur-month")
    assert localstripe.client.v1.plans.retrieve(new).amount == 12900
    assert localstripe.client.v1.plans.retrieve(old).amount == 11900


def test_after_a_plan_change_the_next_paid_period_grants_the_new_plans_hours():
    small = SubscriptionPlanFactory(slug="small", minutes=900, price_cents=11900)
    big = SubscriptionPlanFactory(slug="big", minutes=1800, price_cents=19900)
    type(big).objects.filter(pk=big.pk).update(stripe_plan_id="aprende-big-19900-eur-month")
    subscription = subscription_record(plan=small, scheduled_plan=big)
    apply_paid(invoice_object(subscription, period_start=MARCH, period_end=APRIL))

    apply_paid(invoice_object(subscription, period_start=APRIL, period_end=MAY, plan=big))

    minutes = HoursLedgerEntry.objects.filter(student=subscription.student).values_list(
        "minutes", flat=True
    )
    assert sorted(minutes) == [900, 1800]
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.scheduled_plan) == (big, None)


def test_a_create_whose_answer_was_lost_is_adopted_by_reconciliation(localstripe, monkeypatch):
    from finances import stripe_billing

    plan = SubscriptionPlanFactory(slug="lost-answer")
    student = UserFactory()
    real_create = stripe_billing.subscription_create

    def create_then_lose_the_answer(**kwargs):
        real_create(**kwargs)
        raise PaymentProviderUnavailable()

    monkeypatch.setattr(stripe_billing, "subscription_create", create_then_lose_the_answer)
    with pytest.raises(PaymentProviderUnavailable):
        subscription_create(plan_id=plan.pk, payment_method_id="pm_card_visa", buyer=student)
    monkeypatch.undo()
    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.stripe_subscription_id) == ("INCOMPLETE", None)

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        subscriptions_reconcile()

    subscription.refresh_from_db()
    assert subscription.stripe_subscription_id.startswith("sub_")
    assert subscription.status == "ACTIVE"
    assert SubscriptionPeriod.objects.filter(subscription=subscription).count() == 1
    assert HoursLedgerEntry.objects.filter(student=student).count() == 1


def test_a_repeated_request_while_the_first_is_still_at_stripe_answers_checkout_in_progress():
    plan = SubscriptionPlanFactory(slug="in-flight")
    student = UserFactory()
    in_flight = subscription_record(
        plan=plan,
        student=student,
        status="INCOMPLETE",
        stripe_subscription_id=None,
        id=subscription_id_for_checkout_key(
            checkout_key="page-attempt-0001", plan_id=plan.pk, buyer=student, student_email=None
        ),
    )

    with pytest.raises(CheckoutInProgress):
        subscription_create(
            plan_id=plan.pk,
            payment_method_id="pm_card_visa",
            buyer=student,
            checkout_key="page-attempt-0001",
        )

    assert list(Subscription.objects.values_list("pk", flat=True)) == [in_flight.pk]


def test_after_a_lost_answer_the_same_key_answers_503_a_new_key_409_until_it_is_adopted(
    localstripe, monkeypatch
):
    from finances import stripe_billing

    plan = SubscriptionPlanFactory(slug="lost-then-retried")
    student = UserFactory()
    real_create = stripe_billing.subscription_create

    def create_then_lose_the_answer(**kwargs):
        real_create(**kwargs)
        raise PaymentProviderUnavailable()

    def attempt(key):
        return subscription_create(
            plan_id=plan.pk, payment_method_id="pm_card_visa", buyer=student, checkout_key=key
        )

    monkeypatch.setattr(stripe_billing, "subscription_create", create_then_lose_the_answer)
    with pytest.raises(PaymentProviderUnavailable):
        attempt("lost-answer-0001")
    monkeypatch.undo()

    # Stripe did start it: neither a retry nor a new attempt may start a second one.
    with pytest.raises(PaymentProviderUnavailable):
        attempt("lost-answer-0001")
    with pytest.raises(SubscriptionExists):
        attempt("new-attempt-0001")
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        subscriptions_reconcile()
    replayed = attempt("lost-answer-0001")

    assert replayed.replayed
    assert replayed.subscription.status == "ACTIVE"
    assert Subscription.objects.count() == 1
    assert HoursLedgerEntry.objects.filter(student=student).count() == 1


def test_reconciliation_asks_about_at_most_its_limit_least_recently_checked_first(
    localstripe,
):
    plan = SubscriptionPlanFactory(slug="bounded")
    started = [
        subscription_create(
            plan_id=plan.pk, payment_method_id="pm_card_visa", buyer=UserFactory()
        ).subscription
        for _ in range(3)
    ]

    first = subscriptions_reconcile(limit=2)
    second = subscriptions_reconcile(limit=2)

    assert (first.checked, second.checked) == (2, 2)
    checked_at = dict(Subscription.objects.values_list("pk", "last_reconciled_at"))
    assert all(checked_at[subscription.pk] is not None for subscription in started)


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        ("en", "Your Mensal 15 h renewed: 15 h added"),
        ("pt-pt", "O seu Mensal 15 h foi renovado"),
    ],
)
def test_the_renewal_notification_reads_well(settings, language, subject):
    settings.NOTIFICATION_LANGUAGE = language
    plan = SubscriptionPlanFactory(slug="mensal", name="Mensal 15 h", minutes=900)
    subscription = subscription_record(plan=plan)
    apply_paid(invoice_object(subscription, period_start=MARCH, period_end=APRIL))
    apply_paid(invoice_object(subscription, period_start=APRIL, period_end=MAY))

    notification = Notification.objects.get(kind="subscription_renewed")
    notification_send(notification_id=notification.pk)

    [message] = mail.outbox
    assert message.to == [subscription.payer.email]
    assert message.subject.startswith(subject)
    assert ("1 April 2026" if language == "en" else "1 de abril de 2026") in message.body


def test_the_payment_failed_and_cancelled_notifications_are_sent_once_each():
    plan = SubscriptionPlanFactory(slug="dunning", name="Mensal 15 h")
    subscription = subscription_record(plan=plan)
    apply_paid(invoice_object(subscription, period_start=MARCH, period_end=APRIL))
    failed = invoice_parse(
        invoice_object(
            subscription, invoice_id="in_failed", period_start=APRIL, period_end=MAY, status="open"
        )
    )
    for _ in range(2):
        with transaction.atomic():
            invoice_payment_failed_apply(invoice=failed, source_event_id="evt_x")

    [notification] = Notification.objects.filter(kind="subscription_payment_failed")
    notification_send(notification_id=notification.pk)
    assert "Mensal 15 h" in mail.outbox[0].subject
    subscription.refresh_from_db()
    assert subscription.status == "PAST_DUE"
