"""End to end: our running server, real HTTP, localstripe as Stripe with its own signed
webhooks. A parent subscribes once; a renewal (an invoice created and paid at localstripe,
which has no clock) grants the next period; nothing is credited twice."""

import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from finances.models import HoursLedgerEntry, Subscription, SubscriptionPeriod, WebhookEventLog
from tests.factories import GuardianStudentLinkFactory, SubscriptionPlanFactory
from tests.support.stripe_events import TEST_WEBHOOK_SECRET, WEBHOOK_URL
from tests.support.subscriptions import SUBSCRIPTIONS_URL, renew

pytestmark = pytest.mark.django_db(transaction=True)
DEADLINE_SECONDS = 20


@pytest.fixture
def stripe(localstripe, live_server):
    localstripe.register_webhook(url=f"{live_server.url}{WEBHOOK_URL}", secret=TEST_WEBHOOK_SECRET)
    yield localstripe
    localstripe.unregister_webhook()


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {DEADLINE_SECONDS} s")
        time.sleep(0.2)


def _processed(event_type: str, object_id: str) -> bool:
    return WebhookEventLog.objects.filter(
        event_type=event_type, stripe_object_id=object_id, status__in=["PROCESSED", "IGNORED"]
    ).exists()


def test_a_parent_subscribes_once_and_each_paid_invoice_grants_its_period_once(stripe, live_server):
    plan = SubscriptionPlanFactory(slug="e2e-monthly", minutes=900, price_cents=11900)
    link = GuardianStudentLinkFactory()
    token = Token.objects.create(user=link.guardian).key

    response = requests.post(
        f"{live_server.url}{SUBSCRIPTIONS_URL}",
        json={
            "plan_id": plan.pk,
            "payment_method_id": "pm_card_visa",
            "student_info": {"name": "Rita Sousa", "email": link.student.email},
        },
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    subscription = Subscription.objects.get()
    first_invoice = subscription.latest_invoice_id
    _wait_for(
        lambda: _processed("invoice.payment_succeeded", first_invoice),
        "localstripe's invoice.payment_succeeded",
    )

    renewal = renew(stripe, subscription.stripe_subscription_id)
    _wait_for(lambda: _processed("invoice.payment_succeeded", renewal.id), "the renewal's webhook")
    _wait_for(
        lambda: _processed("payment_intent.succeeded", renewal.payment_intent),
        "the renewal PaymentIntent's webhook",
    )

    credits = HoursLedgerEntry.objects.filter(
        student=link.student, entry_type=HoursLedgerEntry.EntryType.CREDIT
    )
    assert [credit.minutes for credit in credits] == [900, 900]
    periods = list(SubscriptionPeriod.objects.order_by("period_start"))
    assert [period.stripe_invoice_id for period in periods] == [first_invoice, renewal.id]
    assert periods[1].period_start == periods[0].period_end
    shown = requests.get(
        f"{live_server.url}{SUBSCRIPTIONS_URL}{subscription.pk}/",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    ).json()
    assert [period["invoice_id"] for period in shown["periods"]] == [first_invoice, renewal.id]
    assert shown["current_period_end"] is not None
