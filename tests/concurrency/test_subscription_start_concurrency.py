"""Subscribe pressed several times at once (a double click, two tabs) on PostgreSQL: one
subscription reaches Stripe, and only one period is ever charged and credited."""

import pytest

from finances.models import HoursLedgerEntry, Subscription
from finances.services.purchases import CheckoutInProgress
from finances.services.subscription_start import SubscriptionExists, subscription_create
from tests.factories import SubscriptionPlanFactory, UserFactory
from tests.support.concurrent_threads import run_together

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _subscribe(*, plan, student, key):
    def run():
        return subscription_create(
            plan_id=plan.pk, payment_method_id="pm_card_visa", buyer=student, checkout_key=key
        )

    return run


def _stripe_subscriptions_of(localstripe, customer_id) -> list[str]:
    listed = localstripe.client.v1.subscriptions.list(
        params={"customer": customer_id, "status": "all"}
    )
    return [item.id for item in listed.data]


def test_five_tabs_subscribing_one_student_at_once_start_one_subscription(localstripe):
    plan = SubscriptionPlanFactory(slug="five-tabs", minutes=900, price_cents=11900)
    student = UserFactory()

    outcomes = run_together(
        [_subscribe(plan=plan, student=student, key=f"tab-{tab}-attempt-0001") for tab in range(5)]
    )

    started = [outcome.value for outcome in outcomes if outcome.error is None]
    refused = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert len(started) == 1
    assert [type(error) for error in refused] == [SubscriptionExists] * 4
    subscription = Subscription.objects.get()
    assert subscription.status == Subscription.Status.ACTIVE
    assert _stripe_subscriptions_of(localstripe, subscription.stripe_customer_id) == [
        subscription.stripe_subscription_id
    ]
    assert list(HoursLedgerEntry.objects.values_list("minutes", flat=True)) == [900]


def test_one_attempt_sent_four_times_at_once_starts_one_subscription(localstripe):
    plan = SubscriptionPlanFactory(slug="one-attempt", minutes=900, price_cents=11900)
    student = UserFactory()

    outcomes = run_together([_subscribe(plan=plan, student=student, key="one-attempt-0001")] * 4)

    subscription = Subscription.objects.get()
    for outcome in outcomes:
        if outcome.error is not None:
            assert isinstance(outcome.error, CheckoutInProgress)
        else:
            assert outcome.value.subscription.pk == subscription.pk
    assert sum(1 for o in outcomes if o.error is None and not o.value.replayed) == 1
    assert _stripe_subscriptions_of(localstripe, subscription.stripe_customer_id) == [
        subscription.stripe_subscription_id
    ]
    assert list(HoursLedgerEntry.objects.values_list("minutes", flat=True)) == [900]
