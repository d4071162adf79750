"""Approving is paying: the guardian asked pays the request against localstripe; the
webhook credits the student once and closes the request as PAID; both are told."""

import pytest
from rest_framework.test import APIClient

from finances.models import HoursLedgerEntry, PurchaseRequest, PurchaseTransaction
from finances.services.family_requests import purchase_request_create
from finances.services.payments import handle_payment_failure
from finances.stripe_payloads import payment_intent_parse
from notifications.models import Notification
from notifications.services import notification_message
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory
from tests.support.families import client_as, family_create, localstripe_succeeded_event
from tests.support.payments import purchase_pay
from tests.support.stripe_events import post_event

pytestmark = pytest.mark.django_db

Status = PurchaseRequest.Status
URL = "/api/finances/purchase-requests/"


def _pay(guardian, request, **body):
    return client_as(guardian).post(f"{URL}{request.pk}/pay/", body, format="json")


def _credits(student):
    return list(
        HoursLedgerEntry.objects.filter(
            student=student, entry_type=HoursLedgerEntry.EntryType.CREDIT
        ).values_list("minutes", flat=True)
    )


def test_the_guardian_approves_and_pays_and_the_student_is_credited_once(localstripe):
    family = family_create()
    plan = PricingPlanFactory(minutes=600, price_cents=14000)
    request = purchase_request_create(student=family.student, plan_id=plan.pk)

    response = _pay(family.guardian, request)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["client_secret"]
    assert (body["amount"], body["currency"]) == ("140.00", "EUR")
    intent = localstripe.retrieve(body["payment_intent_id"])
    assert intent.metadata["purchase_request_id"] == str(request.pk)
    assert intent.metadata["transaction_id"] == body["transaction_id"]
    assert intent.metadata["student_id"] == str(family.student.pk)
    assert intent.amount == 14000
    purchase = PurchaseTransaction.objects.get(pk=body["transaction_id"])
    assert (purchase.student, purchase.purchased_by) == (family.student, family.guardian)
    assert (purchase.purchase_request, purchase.guardian_link) == (request, family.link)

    localstripe.pay(body["payment_intent_id"])
    succeeded = localstripe_succeeded_event(localstripe, body["payment_intent_id"])
    first = post_event(APIClient(), succeeded)
    duplicate = post_event(APIClient(), succeeded)

    assert (first.status_code, duplicate.status_code) == (200, 200)
    request.refresh_from_db()
    assert request.status == Status.PAID
    assert request.closed_at is not None
    assert _credits(family.student) == [600]
    assert _credits(family.guardian) == []
    assert [(event.kind, event.actor) for event in request.events.all()] == [
        ("CREATED", family.student),
        ("PAYMENT_STARTED", family.guardian),
        ("PAID", family.guardian),
    ]
    told = Notification.objects.filter(kind="purchase_request_paid")
    assert sorted(told.values_list("recipient_email", flat=True)) == sorted(
        [family.student.email, family.guardian.email]
    )
    to_student = notification_message(notification=told.get(recipient_email=family.student.email))
    assert "10.00 h" in to_student.body
    balance = client_as(family.guardian).get(f"/api/finances/students/{family.student.pk}/balance/")
    assert balance.json()["hours_available"] == "10.00"


def test_paying_again_returns_the_same_payment_and_charges_nothing_more(localstripe):
    family = family_create()
    request = purchase_request_create(student=family.student, plan_id=PricingPlanFactory().pk)

    first = _pay(family.guardian, request).json()
    second = _pay(family.guardian, request).json()

    assert second["payment_intent_id"] == first["payment_intent_id"]
    assert second["client_secret"] == first["client_secret"]
    assert PurchaseTransaction.objects.filter(purchase_request=request).count() == 1
    named = [
        intent
        for intent in localstripe.client.v1.payment_intents.list(params={"limit": 100})
        if intent.to_dict()["metadata"].get("purchase_request_id") == str(request.pk)
    ]
    assert len(named) == 1


def test_after_a_declined_card_the_old_payment_is_cancelled_before_a_new_one(localstripe):
    family = family_create()
    request = purchase_request_create(student=family.student, plan_id=PricingPlanFactory().pk)
    first = _pay(family.guardian, request).json()
    localstripe.decline(first["payment_intent_id"])
    handle_payment_failure(
        payment_intent=payment_intent_parse(
            localstripe.retrieve(first["payment_intent_id"]).to_dict()
        )
    )

    second = _pay(family.guardian, request)

    assert second.status_code == 201, second.content
    assert second.json()["payment_intent_id"] != first["payment_intent_id"]
    assert localstripe.retrieve(first["payment_intent_id"]).status == "canceled"
    old = PurchaseTransaction.objects.get(pk=first["transaction_id"])
    assert old.status == PurchaseTransaction.Status.CANCELLED
    assert PurchaseTransaction.objects.filter(purchase_request=request).count() == 2


def test_a_changed_price_is_paid_only_with_the_guardians_confirmation(localstripe):
    family = family_create()
    plan = PricingPlanFactory(minutes=600, price_cents=14000)
    request = purchase_request_create(student=family.student, plan_id=plan.pk)
    plan.price_cents = 15000
    plan.save()

    listed = client_as(family.guardian).get(f"{URL}{request.pk}/").json()
    unconfirmed = _pay(family.guardian, request)
    confirmed = _pay(family.guardian, request, confirm_new_price=True)

    assert listed["price_changed"] is True
    assert listed["current_plan"]["price"] == "150.00"
    assert unconfirmed.status_code == 409
    assert unconfirmed.json()["error"]["code"] == "purchase_request_repriced"
    assert "150.00 EUR" in unconfirmed.json()["error"]["message"]
    assert confirmed.status_code == 201
    assert confirmed.json()["amount"] == "150.00"
    request.refresh_from_db()
    assert request.amount_cents == 15000
    repriced = request.events.get(kind="REPRICED")
    assert repriced.actor == family.guardian
    assert (
        repriced.detail["before"]["amount_cents"],
        repriced.detail["after"]["amount_cents"],
    ) == (
        14000,
        15000,
    )
    assert localstripe.retrieve(confirmed.json()["payment_intent_id"]).amount == 15000


def test_a_withdrawn_plan_cannot_be_paid():
    family = family_create()
    plan = PricingPlanFactory()
    request = purchase_request_create(student=family.student, plan_id=plan.pk)
    plan.is_active = False
    plan.save()

    response = _pay(family.guardian, request)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_unavailable"
    assert not PurchaseTransaction.objects.exists()


def test_the_cap_is_checked_again_when_paying():
    family = family_create(monthly_cap_cents=20000)
    request = purchase_request_create(
        student=family.student, plan_id=PricingPlanFactory(price_cents=14000).pk
    )
    purchase_pay(
        PurchaseTransactionFactory(
            student=family.student,
            purchased_by=family.guardian,
            plan=PricingPlanFactory(price_cents=10000),
        )
    )

    response = _pay(family.guardian, request)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "monthly_cap_exceeded"
    assert not PurchaseTransaction.objects.filter(purchase_request=request).exists()


def test_a_request_cancelled_while_its_payment_went_through_is_paid_not_lost(localstripe):
    family = family_create()
    request = purchase_request_create(
        student=family.student, plan_id=PricingPlanFactory(minutes=600).pk
    )
    started = _pay(family.guardian, request).json()
    localstripe.pay(started["payment_intent_id"])  # paid; the webhook has not arrived yet

    response = client_as(family.student).post(f"{URL}{request.pk}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "PAID"
    assert _credits(family.student) == [600]
    paid = PurchaseRequest.objects.get(pk=request.pk).events.get(kind="PAID")
    assert (paid.actor, paid.detail["paid_after"]) == (family.guardian, "CANCELLED")


def test_declining_cancels_the_unpaid_payment_at_stripe(localstripe):
    family = family_create()
    request = purchase_request_create(student=family.student, plan_id=PricingPlanFactory().pk)
    started = _pay(family.guardian, request).json()

    response = client_as(family.guardian).post(f"{URL}{request.pk}/decline/", {}, format="json")

    assert response.json()["status"] == "DECLINED"
    assert localstripe.retrieve(started["payment_intent_id"]).status == "canceled"
    purchase = PurchaseTransaction.objects.get(pk=started["transaction_id"])
    assert purchase.status == PurchaseTransaction.Status.CANCELLED
    assert _credits(family.student) == []


def test_a_payment_that_never_reached_stripe_does_not_block_the_request(localstripe, settings):
    family = family_create()
    request = purchase_request_create(student=family.student, plan_id=PricingPlanFactory().pk)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # Stripe unreachable
    unreachable = _pay(family.guardian, request)
    settings.STRIPE_API_BASE = localstripe.api_base

    retried = _pay(family.guardian, request)

    assert unreachable.status_code == 503
    assert retried.status_code == 201, retried.content
    first, second = PurchaseTransaction.objects.filter(purchase_request=request).order_by(
        "created_at"
    )
    assert (first.status, first.stripe_payment_intent_id) == (
        PurchaseTransaction.Status.CANCELLED,
        None,
    )
    assert second.stripe_payment_intent_id == retried.json()["payment_intent_id"]
