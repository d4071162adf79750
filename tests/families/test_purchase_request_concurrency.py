"""Two approvals of one request at the same moment (PostgreSQL, threads, localstripe):
one PaymentIntent, one charge, one credit."""

import pytest
from django.test import Client

from core.errors import ConflictError
from finances.models import HoursLedgerEntry, PurchaseRequest, PurchaseTransaction
from finances.services.family_payments import purchase_request_pay
from finances.services.family_requests import purchase_request_create
from tests.factories import PricingPlanFactory
from tests.support.concurrent_threads import run_together
from tests.support.families import family_create, localstripe_succeeded_event
from tests.support.stripe_events import post_event

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

APPROVALS = 4


def test_simultaneous_approvals_charge_and_credit_once(localstripe):
    family = family_create()
    request = purchase_request_create(
        student=family.student, plan_id=PricingPlanFactory(minutes=600).pk
    )

    outcomes = run_together(
        [
            lambda: purchase_request_pay(request_id=request.pk, payer=family.guardian)
            for _ in range(APPROVALS)
        ]
    )

    started = [outcome.value for outcome in outcomes if outcome.error is None]
    refused = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert started, refused
    assert all(
        isinstance(error, ConflictError) and error.code == "payment_in_progress"
        for error in refused
    ), refused
    assert {initiation.purchase.stripe_payment_intent_id for initiation in started} == {
        started[0].purchase.stripe_payment_intent_id
    }
    assert PurchaseTransaction.objects.filter(purchase_request=request).count() == 1
    named = [
        intent
        for intent in localstripe.client.v1.payment_intents.list(params={"limit": 100})
        if intent.to_dict()["metadata"].get("purchase_request_id") == str(request.pk)
    ]
    assert len(named) == 1

    payment_intent_id = started[0].purchase.stripe_payment_intent_id
    localstripe.pay(payment_intent_id)
    succeeded = localstripe_succeeded_event(localstripe, payment_intent_id)
    deliveries = run_together([lambda: post_event(Client(), succeeded).status_code] * 3)

    assert [delivery.value for delivery in deliveries] == [200, 200, 200]
    assert list(
        HoursLedgerEntry.objects.filter(
            student=family.student, entry_type=HoursLedgerEntry.EntryType.CREDIT
        ).values_list("minutes", flat=True)
    ) == [600]
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PAID
    assert request.events.filter(kind="PAID").count() == 1
