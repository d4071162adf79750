"""The PaymentIntent carries `receipt_email` (Stripe's own receipt) only where allowed:
STRIPE_SEND_RECEIPT_EMAIL on, and a Stripe that takes optional parameters."""

import pytest

from finances.services.purchases import purchase_initiate
from tests.factories import PricingPlanFactory
from tests.support.purchase_initiation_helpers import (
    fake_stripe_running,
    form_fields,
    payment_intent_body,
)

pytestmark = pytest.mark.django_db


def create_request_fields(settings, *, optional: bool, receipt: bool) -> dict[str, str]:
    settings.STRIPE_SEND_OPTIONAL_PARAMETERS = optional
    settings.STRIPE_SEND_RECEIPT_EMAIL = receipt
    with fake_stripe_running(settings) as server:
        server.respond(200, payment_intent_body())
        purchase_initiate(
            plan_id=PricingPlanFactory().pk,
            buyer=None,
            student_name="Ana Silva",
            student_email="Ana@Example.com",
        )
        return form_fields(server.requests[0].body)


def test_real_stripe_with_the_setting_on_gets_the_buyers_email(settings):
    fields = create_request_fields(settings, optional=True, receipt=True)

    assert fields["receipt_email"] == "ana@example.com"


def test_with_the_setting_off_stripe_sends_no_receipt_of_its_own(settings):
    fields = create_request_fields(settings, optional=True, receipt=False)

    assert "receipt_email" not in fields


def test_localstripe_never_gets_it_as_it_rejects_the_parameter(settings):
    fields = create_request_fields(settings, optional=False, receipt=True)

    assert "receipt_email" not in fields
