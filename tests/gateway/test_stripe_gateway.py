"""The gateway against a real localstripe process: every call, both PaymentIntent shapes,
and the refusal to call Stripe with a database transaction open.

Error mapping (FakeStripeServer) and webhook signatures are in the neighbouring
test_stripe_gateway_errors.py and test_stripe_gateway_signatures.py.
"""

import time
from datetime import UTC, datetime

import pytest
from django.db import transaction

from finances import stripe_gateway
from finances.errors import (
    PaymentProviderMisconfigured,
    PaymentProviderObjectNotFound,
)
from finances.stripe_payloads import MalformedStripeObject, payment_intent_parse
from tests.support.purchase_initiation_helpers import fake_stripe_running
from tests.support.stripe_events import payment_intent_object

pytestmark = pytest.mark.django_db

METADATA = {"application": "aprende-test", "transaction_id": "tx-1", "plan_id": "7"}


def create_intent(amount_cents: int = 14000, key: str | None = None):
    return stripe_gateway.payment_intent_create(
        amount_cents=amount_cents,
        currency="EUR",
        metadata=METADATA,
        idempotency_key=key or f"test-create:{time.time_ns()}",
    )


# --- Against localstripe --------------------------------------------------------------


def test_a_created_payment_intent_is_parsed_and_exists_at_stripe(localstripe):
    intent = create_intent(14000)

    assert intent.id.startswith("pi_")
    assert (intent.status, intent.amount_cents, intent.currency) == (
        "requires_payment_method",
        14000,
        "EUR",
    )
    assert intent.metadata == METADATA
    assert intent.client_secret
    assert intent.livemode is False
    at_stripe = localstripe.retrieve(intent.id)
    assert (at_stripe.amount, at_stripe.currency) == (14000, "eur")
    assert at_stripe.client_secret == intent.client_secret


def test_a_payment_intent_is_retrieved_with_its_metadata(localstripe):
    created = create_intent(7500)

    retrieved = stripe_gateway.payment_intent_retrieve(payment_intent_id=created.id)

    assert (retrieved.id, retrieved.amount_cents, retrieved.metadata) == (
        created.id,
        7500,
        METADATA,
    )
    assert retrieved.latest_charge is None


def test_a_paid_payment_intent_carries_its_charge_in_the_localstripe_shape(localstripe):
    created = create_intent(14000)

    localstripe.pay(created.id)
    intent = stripe_gateway.payment_intent_retrieve(payment_intent_id=created.id)

    assert intent.status == "succeeded"
    assert intent.latest_charge is not None
    assert intent.latest_charge.payment_intent_id == created.id
    assert intent.latest_charge.amount_cents == 14000
    assert intent.latest_charge_id == intent.latest_charge.id
    assert intent.collected_amount_cents == 14000
    assert intent.succeeded_at == intent.latest_charge.created_at


def test_partial_refunds_add_up_at_stripe(localstripe):
    created = create_intent(14000)
    localstripe.pay(created.id)

    first = stripe_gateway.refund_create(
        payment_intent_id=created.id, amount_cents=3000, idempotency_key=f"r1:{created.id}"
    )
    second = stripe_gateway.refund_create(
        payment_intent_id=created.id, amount_cents=2000, idempotency_key=f"r2:{created.id}"
    )

    assert first.id != second.id
    assert (first.amount_cents, second.amount_cents) == (3000, 2000)
    assert first.payment_intent_id == created.id
    assert first.status == "succeeded"
    assert stripe_gateway.refunded_amount_for_payment_intent(payment_intent_id=created.id) == 5000


def test_a_refund_without_an_amount_refunds_the_whole_payment(localstripe):
    created = create_intent(14000)
    localstripe.pay(created.id)

    refund = stripe_gateway.refund_create(
        payment_intent_id=created.id, amount_cents=None, idempotency_key=f"r:{created.id}"
    )

    assert refund.amount_cents == 14000
    total = stripe_gateway.refunded_amount_for_payment_intent(payment_intent_id=created.id)
    assert total == 14000


def test_events_are_listed_as_plain_dicts_after_a_time(localstripe):
    before = int(time.time()) - 2
    created = create_intent()
    localstripe.pay(created.id)

    events = stripe_gateway.events_list(created_after=before)
    later = stripe_gateway.events_list(created_after=int(time.time()) + 3600)

    succeeded = [
        event
        for event in events
        if event["type"] == "payment_intent.succeeded"
        and event["data"]["object"]["id"] == created.id
    ]
    assert len(succeeded) == 1
    assert isinstance(succeeded[0], dict)
    assert succeeded[0]["id"].startswith("evt_")
    assert later == []


def test_the_account_check_passes_with_a_working_key(localstripe):
    stripe_gateway.account_check()


def test_the_account_check_reports_a_rejected_key_as_misconfiguration(localstripe, settings):
    settings.STRIPE_SECRET_KEY = "bad"  # localstripe refuses keys this short

    with pytest.raises(PaymentProviderMisconfigured):
        stripe_gateway.account_check()


def test_an_unknown_payment_intent_is_reported_as_not_found(localstripe):
    with pytest.raises(PaymentProviderObjectNotFound):
        stripe_gateway.payment_intent_retrieve(payment_intent_id="pi_doesnotexist")


# --- Both shapes of a PaymentIntent ---------------------------------------------------


def intent_document(*, legacy_shape: bool, status: str = "succeeded") -> dict:
    return payment_intent_object(
        payment_intent_id="pi_shape_1",
        amount=14000,
        currency="EUR",
        metadata=METADATA,
        status=status,
        legacy_shape=legacy_shape,
        charge_created=1_735_000_000,
    )


def test_the_current_shape_gives_the_latest_charge_id_and_the_amount_received():
    document = intent_document(legacy_shape=False)
    document["amount_received"] = 13000

    intent = payment_intent_parse(document)

    assert intent.latest_charge is None
    assert intent.latest_charge_id == document["latest_charge"]
    assert intent.collected_amount_cents == 13000
    assert intent.currency == "EUR"


def test_the_current_shape_finds_the_latest_charge_in_an_embedded_charges_list():
    legacy = intent_document(legacy_shape=True)
    document = intent_document(legacy_shape=False)
    document["latest_charge"] = legacy["latest_charge"]["id"]
    document["charges"] = legacy["charges"]

    intent = payment_intent_parse(document)

    assert intent.latest_charge is not None
    assert intent.latest_charge.id == document["latest_charge"]
    assert intent.succeeded_at is not None
    assert int(intent.succeeded_at.timestamp()) == 1_735_000_000


def test_the_legacy_shape_embeds_the_charge_and_gives_the_payment_time():
    document = intent_document(legacy_shape=True)

    intent = payment_intent_parse(document)

    assert intent.latest_charge.id == document["latest_charge"]["id"]
    assert intent.latest_charge.amount_cents == 14000
    assert intent.amount_received_cents is None
    assert intent.collected_amount_cents == 14000
    assert int(intent.succeeded_at.timestamp()) == 1_735_000_000


def test_an_unpaid_intent_has_no_charge_in_either_shape():
    for legacy_shape in (False, True):
        intent = payment_intent_parse(
            intent_document(legacy_shape=legacy_shape, status="requires_payment_method")
        )
        assert (intent.latest_charge, intent.latest_charge_id, intent.succeeded_at) == (
            None,
            None,
            None,
        )


@pytest.mark.parametrize(
    "breakage",
    [
        {"amount": "14000"},
        {"amount": None},
        {"amount": -1},
        {"amount": True},
        {"id": ""},
        {"latest_charge": 42},
    ],
)
def test_a_malformed_payment_intent_raises_malformed_stripe_object(breakage):
    document = {**intent_document(legacy_shape=False), **breakage}

    with pytest.raises(MalformedStripeObject):
        payment_intent_parse(document)


# --- Never inside a database transaction ----------------------------------------------

GATEWAY_CALLS = {
    "payment_intent_create": lambda: create_intent(),
    "payment_intent_retrieve": lambda: stripe_gateway.payment_intent_retrieve(
        payment_intent_id="pi_1"
    ),
    "refund_create": lambda: stripe_gateway.refund_create(
        payment_intent_id="pi_1", amount_cents=100, idempotency_key="k"
    ),
    "refunded_amount_for_payment_intent": lambda: stripe_gateway.refunded_amount_for_payment_intent(
        payment_intent_id="pi_1"
    ),
    "events_list": lambda: stripe_gateway.events_list(created_after=0),
    "account_check": lambda: stripe_gateway.account_check(),
    "payment_intent_cancel": lambda: stripe_gateway.payment_intent_cancel(
        payment_intent_id="pi_1", idempotency_key="k"
    ),
    "payment_intents_find_by_metadata": lambda: stripe_gateway.payment_intents_find_by_metadata(
        key="transaction_id", value="tx", created_around=datetime.now(UTC)
    ),
    "webhook_endpoint_upsert": lambda: stripe_gateway.webhook_endpoint_upsert(
        url="https://x.example/hook", enabled_events=["charge.refunded"], api_version="2024-06-20"
    ),
}


@pytest.mark.parametrize("call", GATEWAY_CALLS.values(), ids=GATEWAY_CALLS.keys())
def test_no_stripe_call_is_made_with_a_database_transaction_open(settings, call):
    with fake_stripe_running(settings) as stripe_server:
        with pytest.raises(RuntimeError, match="transaction open"), transaction.atomic():
            call()

        assert stripe_server.requests == []
