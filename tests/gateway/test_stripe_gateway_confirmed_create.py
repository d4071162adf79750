"""A PaymentIntent created and confirmed in one call with the buyer's payment method."""

import pytest

from finances import stripe_gateway
from tests.support.purchase_initiation_helpers import (
    fake_stripe_running,
    form_fields,
    payment_intent_body,
)


@pytest.fixture
def stripe_server(settings):
    with fake_stripe_running(settings) as server:
        yield server


def _create(**extra):
    return stripe_gateway.payment_intent_create(
        amount_cents=14000,
        currency="EUR",
        metadata={},
        idempotency_key="purchase-initiate:tx-1",
        description="10 hours",
        **extra,
    )


def test_a_payment_method_is_attached_and_confirmed_in_the_create_call(stripe_server):
    stripe_server.respond(200, payment_intent_body())

    _create(payment_method_id="pm_card_visa")

    fields = form_fields(stripe_server.requests[0].body)
    assert fields["payment_method"] == "pm_card_visa"
    assert fields["confirm"] == "true"
    assert fields["payment_method_types[0]"] == "card"
    # localstripe rejects any parameter it does not know.
    assert "use_stripe_sdk" not in fields
    assert "description" not in fields


def test_real_stripe_is_told_the_browser_handles_3d_secure_and_gets_no_redirect_methods(
    stripe_server, settings
):
    settings.STRIPE_SEND_OPTIONAL_PARAMETERS = True
    stripe_server.respond(200, payment_intent_body())

    _create(payment_method_id="pm_card_visa")

    fields = form_fields(stripe_server.requests[0].body)
    assert fields["use_stripe_sdk"] == "true"
    assert fields["description"] == "10 hours"
    assert fields["payment_method_types[0]"] == "card"
    assert "automatic_payment_methods[enabled]" not in fields
