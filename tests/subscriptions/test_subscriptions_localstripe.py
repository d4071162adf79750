"""Subscriptions on localstripe: subscribe with a test card, renew, fail, cancel, resume.

localstripe has no clock: a renewal is an invoice created and paid through its API (its
period is the stale current one, which our grant advances by one interval). Its events are
read back from its `/v1/events` and delivered, signed, through our webhook endpoint.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from finances.models import (
    HoursLedgerEntry,
    PurchaseTransaction,
    StripeCustomer,
    Subscription,
    SubscriptionPeriod,
)
from finances.services.subscription_reconciliation import subscriptions_reconcile
from notifications.models import Notification
from tests.factories import GuardianStudentLinkFactory, SubscriptionPlanFactory, UserFactory
from tests.support.subscriptions import (
    DECLINING_CARD,
    SUBSCRIPTIONS_URL,
    deliver,
    deliver_localstripe_events,
    invoice_event_from_localstripe,
    renew,
    saved_card_replace,
)

pytestmark = pytest.mark.django_db
Status = Subscription.Status


def _credits(student):
    return list(
        HoursLedgerEntry.objects.filter(
            student=student, entry_type=HoursLedgerEntry.EntryType.CREDIT
        ).order_by("created_at", "id")
    )


def _signed_in(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return api_client


def _subscribe(api_client, plan, **body):
    response = api_client.post(
        SUBSCRIPTIONS_URL,
        {"plan_id": plan.pk, "payment_method_id": "pm_card_visa", **body},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def plan():
    return SubscriptionPlanFactory(slug="monthly-15", name="15 h monthly", minutes=900)


def test_a_student_subscribes_with_a_test_card_and_the_first_invoice_grants_once(
    api_client, localstripe, plan
):
    student = UserFactory()

    body = _subscribe(_signed_in(api_client, student), plan)

    subscription = Subscription.objects.get()
    assert (body["subscription_id"], body["status"]) == (str(subscription.pk), "ACTIVE")
    assert body["client_secret"] == ""
    assert body["current_period_start"] is not None
    assert [period["amount"] for period in body["periods"]] == ["119.00"]
    assert (
        subscription.stripe_customer_id
        == StripeCustomer.objects.get(user=student).stripe_customer_id
    )
    # localstripe's own events, delivered: nothing more is granted.
    ours = {"subscription": subscription.stripe_subscription_id}
    results = deliver_localstripe_events(localstripe, "invoice.payment_succeeded", **ours)
    results += deliver_localstripe_events(
        localstripe, "payment_intent.succeeded", customer=subscription.stripe_customer_id
    )
    results += deliver_localstripe_events(localstripe, "customer.subscription.created", **ours)
    assert {result["status"] for result in results} <= {"PROCESSED", "IGNORED"}
    [credit] = _credits(student)
    purchase = PurchaseTransaction.objects.get()
    assert (credit.minutes, credit.purchase_transaction_id) == (900, purchase.pk)
    assert purchase.status == PurchaseTransaction.Status.COMPLETED
    assert purchase.stripe_payment_intent_id.startswith("pi_")
    assert purchase.stripe_charge_id.startswith("ch_")
    period = SubscriptionPeriod.objects.get()
    assert purchase.expires_at == period.period_end
    assert Subscription.objects.get().status == Status.ACTIVE


def test_a_renewal_grants_a_second_period_that_starts_where_the_first_ended(
    api_client, localstripe, plan
):
    student = UserFactory()
    _subscribe(_signed_in(api_client, student), plan)
    subscription = Subscription.objects.get()
    first = SubscriptionPeriod.objects.get()

    invoice = renew(localstripe, subscription.stripe_subscription_id)
    deliver_localstripe_events(
        localstripe, "payment_intent.succeeded", customer=subscription.stripe_customer_id
    )
    deliver_localstripe_events(localstripe, "invoice.payment_succeeded", object_id=invoice.id)
    deliver_localstripe_events(localstripe, "invoice.payment_succeeded", object_id=invoice.id)

    second = SubscriptionPeriod.objects.get(stripe_invoice_id=invoice.id)
    assert second.period_start == first.period_end
    assert second.period_advanced_locally  # localstripe's period never advances
    assert second.period_end > second.period_start + timedelta(days=27)
    assert [credit.minutes for credit in _credits(student)] == [900, 900]
    assert second.purchase.stripe_payment_intent_id == invoice.payment_intent
    assert second.purchase.expires_at == second.period_end
    renewed = Notification.objects.get(kind="subscription_renewed")
    assert (renewed.recipient_email, renewed.object_key) == (student.email, f"invoice:{invoice.id}")
    subscription.refresh_from_db()
    assert subscription.current_period_end == second.period_end


def test_a_failed_renewal_makes_it_past_due_and_a_later_retry_grants_that_period_once(
    api_client, localstripe, plan
):
    guardian = UserFactory()
    link = GuardianStudentLinkFactory(guardian=guardian)
    student_info = {"name": "Rita Sousa", "email": link.student.email}
    _subscribe(_signed_in(api_client, guardian), plan, student_info=student_info)
    subscription = Subscription.objects.get()
    assert (subscription.student, subscription.payer) == (link.student, guardian)
    saved_card_replace(localstripe, subscription.stripe_customer_id, DECLINING_CARD)

    invoice = renew(localstripe, subscription.stripe_subscription_id)
    assert invoice.status == "open"  # declined; localstripe sends no event for it
    result = deliver(
        invoice_event_from_localstripe(localstripe, "invoice.payment_failed", invoice.id)
    )

    assert result["status"] == "PROCESSED"
    subscription.refresh_from_db()
    assert subscription.status == Status.PAST_DUE
    assert SubscriptionPeriod.objects.count() == 1
    assert [credit.minutes for credit in _credits(link.student)] == [900]
    failed = Notification.objects.get(kind="subscription_payment_failed")
    assert failed.recipient_email == guardian.email
    assert subscriptions_reconcile().granted == []  # an open invoice grants nothing

    saved_card_replace(localstripe, subscription.stripe_customer_id, "4242424242424242")
    localstripe.client.v1.invoices.pay(invoice.id)
    deliver_localstripe_events(localstripe, "invoice.payment_succeeded", object_id=invoice.id)
    deliver(invoice_event_from_localstripe(localstripe, "invoice.paid", invoice.id))

    subscription.refresh_from_db()
    assert subscription.status == Status.ACTIVE
    assert [credit.minutes for credit in _credits(link.student)] == [900, 900]
    assert list(
        subscription.status_changes.order_by("created_at", "id").values_list("to_status", flat=True)
    ) == ["INCOMPLETE", "ACTIVE", "PAST_DUE", "ACTIVE"]


def test_reconciliation_grants_a_paid_invoice_whose_events_never_arrived(
    api_client, localstripe, plan
):
    student = UserFactory()
    _subscribe(_signed_in(api_client, student), plan)
    subscription = Subscription.objects.get()

    invoice = renew(localstripe, subscription.stripe_subscription_id)  # events not delivered
    first_run = subscriptions_reconcile()
    second_run = subscriptions_reconcile()

    assert first_run.granted == [invoice.id]
    assert second_run.granted == []
    assert [credit.minutes for credit in _credits(student)] == [900, 900]
    period = SubscriptionPeriod.objects.get(stripe_invoice_id=invoice.id)
    assert period.purchase.stripe_payment_intent_id == invoice.payment_intent


def test_cancel_at_period_end_then_resume_then_cancel_now(
    api_client, localstripe, plan, django_user_model
):
    student = UserFactory()
    client = _signed_in(api_client, student)
    subscription_id = _subscribe(client, plan)["subscription_id"]
    url = f"{SUBSCRIPTIONS_URL}{subscription_id}/"

    cancelled = client.post(f"{url}cancel/", {}, format="json")
    assert cancelled.status_code == 200, cancelled.json()
    assert (cancelled.json()["status"], cancelled.json()["cancel_at_period_end"]) == (
        "ACTIVE",
        True,
    )
    stripe_id = Subscription.objects.get().stripe_subscription_id
    assert localstripe.client.v1.subscriptions.retrieve(stripe_id).cancel_at_period_end is True

    resumed = client.post(f"{url}resume/", {}, format="json")
    assert resumed.json()["cancel_at_period_end"] is False
    assert localstripe.client.v1.subscriptions.retrieve(stripe_id).cancel_at_period_end is False

    refused = client.post(f"{url}cancel/", {"immediately": True}, format="json")
    assert refused.status_code == 403

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="cancel_subscription"))
    staff_client = _signed_in(type(api_client)(), staff)
    ended = staff_client.post(f"{url}cancel/", {"immediately": True}, format="json")
    assert ended.status_code == 200, ended.json()
    assert ended.json()["status"] == "CANCELED"
    [result] = deliver_localstripe_events(
        localstripe, "customer.subscription.deleted", object_id=stripe_id
    )
    assert result["status"] == "PROCESSED"
    subscription = Subscription.objects.get()
    assert subscription.status == Status.CANCELED
    # What was paid for stays: the granted hours are still there.
    assert [credit.minutes for credit in _credits(student)] == [900]
    assert Notification.objects.filter(kind="subscription_cancelled").count() == 1
    assert subscription.status_changes.filter(actor=staff, to_status="CANCELED").exists()
    # A renewal is impossible now; the API refuses to resume it.
    assert client.post(f"{url}resume/", {}, format="json").status_code == 409
