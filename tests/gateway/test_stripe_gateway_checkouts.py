"""The gateway calls checkout expiry needs: cancel, and finding a PaymentIntent by its
metadata (localstripe: list and match; real Stripe: the Search API)."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from finances import stripe_gateway
from tests.support.purchase_initiation_helpers import fake_stripe_running, form_fields
from tests.support.stripe_events import payment_intent_object

pytestmark = pytest.mark.django_db
METADATA = {"application": "aprende-test", "transaction_id": "tx-find-1"}


def _create(metadata=None):
    return stripe_gateway.payment_intent_create(
        amount_cents=14000,
        currency="EUR",
        metadata=metadata or METADATA,
        idempotency_key="k",
    )


def test_an_open_payment_intent_is_cancelled_at_localstripe(localstripe):
    created = _create()

    cancelled = stripe_gateway.payment_intent_cancel(
        payment_intent_id=created.id, idempotency_key="checkout-expire:1", reason="abandoned"
    )

    assert cancelled.status == "canceled"
    assert localstripe.retrieve(created.id).status == "canceled"


def test_the_cancellation_reason_is_sent_only_where_optional_parameters_are(settings):
    document = payment_intent_object(
        payment_intent_id="pi_c", amount=100, currency="EUR", metadata={}, status="canceled"
    )
    bodies = {}
    for optional in (False, True):
        settings.STRIPE_SEND_OPTIONAL_PARAMETERS = optional
        with fake_stripe_running(settings) as server:
            server.respond(200, document)
            stripe_gateway.payment_intent_cancel(
                payment_intent_id="pi_c", idempotency_key="checkout-expire:2", reason="abandoned"
            )
        (request,) = server.requests
        assert (request.path, request.headers["Idempotency-Key"]) == (
            "/v1/payment_intents/pi_c/cancel",
            "checkout-expire:2",
        )
        bodies[optional] = form_fields(request.body)

    assert bodies == {False: {}, True: {"cancellation_reason": "abandoned"}}


def test_localstripe_payment_intents_are_found_by_metadata_near_their_creation(localstripe):
    wanted = _create({"application": "aprende-test", "transaction_id": "tx-listed"})
    _create({"application": "aprende-test", "transaction_id": "someone-else"})

    found = stripe_gateway.payment_intents_find_by_metadata(
        key="transaction_id", value="tx-listed", created_around=datetime.now(UTC)
    )
    too_far = stripe_gateway.payment_intents_find_by_metadata(
        key="transaction_id",
        value="tx-listed",
        created_around=datetime.now(UTC) - timedelta(days=1),
    )

    assert [intent.id for intent in found] == [wanted.id]
    assert too_far == []


def test_real_stripe_is_asked_through_the_search_api(settings):
    settings.STRIPE_SEND_OPTIONAL_PARAMETERS = True
    document = payment_intent_object(
        payment_intent_id="pi_s", amount=100, currency="EUR", metadata=METADATA, status="canceled"
    )
    with fake_stripe_running(settings) as server:
        server.respond(
            200, {"object": "search_result", "data": [document], "has_more": False, "url": "/"}
        )
        found = stripe_gateway.payment_intents_find_by_metadata(
            key="transaction_id", value="tx-find-1", created_around=datetime.now(UTC)
        )

    (request,) = server.requests
    url = urlparse(request.path)
    assert url.path == "/v1/payment_intents/search"
    assert parse_qs(url.query)["query"] == ["metadata['transaction_id']:'tx-find-1'"]
    assert [intent.id for intent in found] == ["pi_s"]


def test_search_terms_that_could_change_the_query_are_refused():
    with pytest.raises(ValueError, match="plain identifiers"):
        stripe_gateway.payment_intents_find_by_metadata(
            key="transaction_id", value="x' OR metadata['a']:'b", created_around=datetime.now(UTC)
        )
