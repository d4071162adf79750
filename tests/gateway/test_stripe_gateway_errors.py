"""How the gateway reports a Stripe having a bad day (FakeStripeServer over real HTTP)."""

import time

import pytest

from finances import stripe_gateway
from finances.errors import PaymentDeclined, PaymentProviderUnavailable
from finances.stripe_payloads import MalformedStripeObject
from tests.support.purchase_initiation_helpers import (
    STRIPE_FAILURES,
    answer_after_first_request,
    fake_stripe_running,
    form_fields,
    payment_intent_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_server(settings):
    with fake_stripe_running(settings) as server:
        yield server


def header(request, name: str) -> str | None:
    return {key.lower(): value for key, value in request.headers.items()}.get(name.lower())


def create_intent(key: str = "purchase-initiate:tx-1"):
    return stripe_gateway.payment_intent_create(
        amount_cents=14000,
        currency="EUR",
        metadata={"application": "aprende-test", "transaction_id": "tx-1"},
        idempotency_key=key,
    )


@pytest.mark.parametrize("failure", STRIPE_FAILURES.values(), ids=STRIPE_FAILURES.keys())
def test_each_stripe_error_becomes_our_error_with_its_code_and_status(stripe_server, failure):
    failure.play(stripe_server)

    with pytest.raises(failure.expected_error) as raised:
        create_intent()

    error = raised.value
    assert type(error) is failure.expected_error
    assert (error.code, error.status_code) == (failure.expected_code, failure.expected_http_status)
    assert error.headers.get("Retry-After") == failure.expected_retry_after
    assert len(stripe_server.requests) == 1  # no retries configured


def test_the_stripe_error_is_chained_for_the_logs_but_its_text_is_not_shown(stripe_server):
    stripe_server.respond_with_error(500, "api_error", message="internal detail req_123")

    with pytest.raises(PaymentProviderUnavailable) as raised:
        create_intent()

    assert raised.value.__cause__ is not None
    assert "req_123" not in raised.value.message


def test_a_declined_card_keeps_stripes_message_for_the_buyer(stripe_server):
    stripe_server.respond_with_error(
        402, "card_error", code="card_declined", message="Your card has insufficient funds."
    )

    with pytest.raises(PaymentDeclined) as raised:
        create_intent()

    assert raised.value.message == "Your card has insufficient funds."


def test_a_stripe_timeout_is_reported_as_unavailable(stripe_server, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    stripe_server.respond(200, payment_intent_body(), delay_seconds=2)

    started = time.monotonic()
    with pytest.raises(PaymentProviderUnavailable) as raised:
        create_intent()

    assert time.monotonic() - started < 1.5  # gave up at the timeout, not after the delay
    assert raised.value.headers == {"Retry-After": "30"}


def test_a_refused_connection_is_reported_as_unavailable(settings):
    # The suite's default Stripe address: nothing listens there.
    with pytest.raises(PaymentProviderUnavailable):
        create_intent()


def test_an_unreadable_success_answer_is_reported_as_malformed(stripe_server):
    stripe_server.respond(200, {"id": "pi_1", "object": "payment_intent", "status": "x"})

    with pytest.raises(MalformedStripeObject):
        create_intent()


def test_the_idempotency_key_is_sent_as_the_idempotency_key_header(stripe_server):
    stripe_server.respond(200, payment_intent_body())

    create_intent(key="purchase-initiate:0f0e")

    (request,) = stripe_server.requests
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert header(request, "Idempotency-Key") == "purchase-initiate:0f0e"


def test_the_create_request_carries_amount_currency_and_metadata(stripe_server):
    stripe_server.respond(200, payment_intent_body())

    create_intent()

    fields = form_fields(stripe_server.requests[0].body)
    assert fields["amount"] == "14000"
    assert fields["currency"] == "eur"
    assert fields["metadata[application]"] == "aprende-test"
    assert fields["metadata[transaction_id]"] == "tx-1"
    assert fields["payment_method_types[0]"] == "card"


def test_optional_parameters_are_sent_to_real_stripe_only(stripe_server, settings):
    settings.STRIPE_SEND_OPTIONAL_PARAMETERS = True
    stripe_server.respond(200, payment_intent_body())

    stripe_gateway.payment_intent_create(
        amount_cents=14000,
        currency="EUR",
        metadata={},
        idempotency_key="k",
        description="10 hours",
    )

    fields = form_fields(stripe_server.requests[0].body)
    assert fields["automatic_payment_methods[enabled]"] == "true"
    assert fields["description"] == "10 hours"
    assert "payment_method_types[0]" not in fields


def test_a_timed_out_create_is_retried_with_the_same_idempotency_key(stripe_server, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    stripe_server.respond(200, payment_intent_body(), delay_seconds=3)

    with pytest.raises(PaymentProviderUnavailable):
        create_intent(key="purchase-initiate:retry-me")

    assert len(stripe_server.requests) == 3
    keys = {header(request, "Idempotency-Key") for request in stripe_server.requests}
    assert keys == {"purchase-initiate:retry-me"}
    assert len({request.body for request in stripe_server.requests}) == 1


def test_a_retry_after_a_timeout_returns_the_answer_of_the_retry(stripe_server, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    stripe_server.respond(200, payment_intent_body(), delay_seconds=3)
    answer_after_first_request(
        stripe_server, status=200, body=payment_intent_body(payment_intent_id="pi_after_retry")
    )

    intent = create_intent(key="purchase-initiate:retry-ok")

    assert intent.id == "pi_after_retry"
    assert len(stripe_server.requests) == 2
    assert {header(r, "Idempotency-Key") for r in stripe_server.requests} == {
        "purchase-initiate:retry-ok"
    }
