"""purchase_initiate when Stripe misbehaves (FakeStripeServer): the purchase row always
ends consistent, and the request Stripe receives is exactly what we mean to send."""

import pytest

from accounts.models import User
from finances import stripe_gateway
from finances.errors import PaymentProviderError, PaymentProviderUnavailable
from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.payments import OutcomeKind, confirm_payment_completion
from finances.services.purchases import client_secret_hash, purchase_initiate
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.purchase_initiation_helpers import (
    STRIPE_FAILURES,
    fake_stripe_running,
    form_fields,
    payment_intent_body,
)

pytestmark = pytest.mark.django_db

Status = PurchaseTransaction.Status


@pytest.fixture
def stripe_server(settings):
    with fake_stripe_running(settings) as server:
        yield server


def guest_initiate(plan):
    return purchase_initiate(
        plan_id=plan.pk, buyer=None, student_name="Ana Silva", student_email="ana@example.com"
    )


def idempotency_key_of(request) -> str:
    return {key.lower(): value for key, value in request.headers.items()}["idempotency-key"]


@pytest.mark.parametrize("failure", STRIPE_FAILURES.values(), ids=STRIPE_FAILURES.keys())
def test_a_stripe_failure_leaves_exactly_one_failed_purchase_with_its_reason(
    stripe_server, failure
):
    plan = PricingPlanFactory()
    failure.play(stripe_server)

    with pytest.raises(failure.expected_error) as raised:
        guest_initiate(plan)

    assert type(raised.value) is failure.expected_error
    purchase = PurchaseTransaction.objects.get()
    assert purchase.status == Status.FAILED
    assert purchase.failure_reason.startswith(f"{failure.expected_code}: ")
    assert purchase.stripe_payment_intent_id is None
    assert purchase.client_secret_hash == ""
    assert not HoursLedgerEntry.objects.exists()
    assert len(stripe_server.requests) == 1
    assert idempotency_key_of(stripe_server.requests[0]) == f"purchase-initiate:{purchase.pk}"


def test_a_stripe_timeout_leaves_a_failed_purchase(stripe_server, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    stripe_server.respond(200, payment_intent_body(), delay_seconds=2)

    with pytest.raises(PaymentProviderUnavailable):
        guest_initiate(PricingPlanFactory())

    purchase = PurchaseTransaction.objects.get()
    assert (purchase.status, purchase.stripe_payment_intent_id) == (Status.FAILED, None)
    assert purchase.failure_reason.startswith("payment_provider_unavailable: ")


def test_an_unreadable_answer_from_stripe_leaves_a_failed_purchase(stripe_server):
    stripe_server.respond(200, {"id": "pi_half", "object": "payment_intent"})

    with pytest.raises(PaymentProviderError) as raised:
        guest_initiate(PricingPlanFactory())

    assert raised.value.code == "payment_provider_error"
    purchase = PurchaseTransaction.objects.get()
    assert purchase.status == Status.FAILED
    assert purchase.failure_reason.startswith("Unreadable answer from Stripe")
    assert purchase.stripe_payment_intent_id is None


def test_an_unexpected_crash_during_the_stripe_call_leaves_a_failed_purchase(monkeypatch):
    # Fault injection: the gateway crashes as a bug in it would.
    def crash(**kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(stripe_gateway, "payment_intent_create", crash)

    with pytest.raises(KeyError):
        guest_initiate(PricingPlanFactory())

    purchase = PurchaseTransaction.objects.get()
    assert purchase.status == Status.FAILED
    assert purchase.failure_reason == "Unexpected error while calling Stripe."


def test_a_retry_after_a_timeout_gives_a_new_pending_purchase_that_can_complete(
    stripe_server, settings, localstripe
):
    plan = PricingPlanFactory()
    settings.STRIPE_API_BASE = stripe_server.api_base  # Stripe is slow at first...
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    stripe_server.respond(200, payment_intent_body(), delay_seconds=2)
    with pytest.raises(PaymentProviderUnavailable):
        guest_initiate(plan)

    settings.STRIPE_API_BASE = localstripe.api_base  # ... then answers again.
    settings.STRIPE_TIMEOUT_SECONDS = 5
    initiation = guest_initiate(plan)

    failed = PurchaseTransaction.objects.get(status=Status.FAILED)
    retried = initiation.purchase
    assert retried.pk != failed.pk
    assert retried.status == Status.PENDING
    assert retried.student_id == failed.student_id
    assert retried.stripe_payment_intent_id.startswith("pi_")
    assert retried.client_secret_hash == client_secret_hash(initiation.client_secret)
    assert idempotency_key_of(stripe_server.requests[0]) == f"purchase-initiate:{failed.pk}"
    assert User.objects.filter(email="ana@example.com").count() == 1

    localstripe.pay(retried.stripe_payment_intent_id)
    paid = stripe_gateway.payment_intent_retrieve(
        payment_intent_id=retried.stripe_payment_intent_id
    )
    outcome = confirm_payment_completion(payment_intent=paid, source_event_id="evt_retry")

    assert outcome.kind == OutcomeKind.APPLIED
    retried.refresh_from_db()
    assert retried.status == Status.COMPLETED
    assert retried.student.account_balance.remaining_minutes == plan.minutes
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


@pytest.mark.parametrize("plan_factory", [PricingPlanFactory])
def test_stripe_receives_the_plan_price_and_our_ids_but_no_personal_data(
    stripe_server, plan_factory, settings
):
    plan = plan_factory(price_cents=12345, currency="GBP")
    stripe_server.respond(
        200, payment_intent_body(payment_intent_id="pi_seen", amount=12345, currency="gbp")
    )

    initiation = purchase_initiate(
        plan_id=plan.pk, buyer=None, student_name="Zoë Müller", student_email="zoe@example.org"
    )

    (request,) = stripe_server.requests
    fields = form_fields(request.body)
    purchase = initiation.purchase
    assert (fields["amount"], fields["currency"]) == ("12345", "gbp")
    assert {key: value for key, value in fields.items() if key.startswith("metadata")} == {
        "metadata[application]": settings.STRIPE_METADATA_APPLICATION,
        "metadata[transaction_id]": str(purchase.pk),
        "metadata[plan_id]": str(plan.pk),
        "metadata[student_id]": str(purchase.student_id),
    }
    sent = request.body.lower()
    for personal in ("zoe", "zo%c3%ab", "m%c3%bcller", "example.org"):
        assert personal not in sent
    assert purchase.stripe_payment_intent_id == "pi_seen"
    assert purchase.status == Status.PENDING


def test_an_authenticated_buyers_email_is_not_sent_to_stripe_either(stripe_server):
    buyer = UserFactory(email="parent@example.net", name="Pat Parent")
    stripe_server.respond(200, payment_intent_body())

    purchase_initiate(plan_id=PricingPlanFactory().pk, buyer=buyer)

    sent = stripe_server.requests[0].body.lower()
    assert "parent" not in sent
    assert "example.net" not in sent
