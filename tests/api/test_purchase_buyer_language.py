"""The buyer's emails are written in the language they bought in: the request's language
is stored on a new guest account and on a signed-in buyer's, never on an account a guest
checkout merely names."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.purchase_initiation_helpers import (
    INITIATE_URL,
    fake_stripe_running,
    payment_intent_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_answers(settings):
    with fake_stripe_running(settings) as server:
        server.respond(200, payment_intent_body())
        yield server


def buy(client, *, language: str, email: str | None = None):
    body = {"plan_id": PricingPlanFactory().pk}
    if email:
        body["student_info"] = {"name": "Ana Silva", "email": email}
    response = client.post(INITIATE_URL, body, format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 201, response.content
    return response


@pytest.mark.parametrize(
    ("accept_language", "stored"), [("pt-PT,pt;q=0.9", "pt-pt"), ("en-GB", "en"), ("pt", "pt-pt")]
)
def test_a_new_guest_gets_the_language_of_the_checkout(stripe_answers, accept_language, stored):
    buy(APIClient(), language=accept_language, email="ana@example.com")

    assert User.objects.get(email="ana@example.com").language == stored


def test_a_signed_in_buyer_gets_the_language_they_buy_in(stripe_answers):
    buyer = UserFactory(language="en")
    client = APIClient()
    client.force_authenticate(buyer)

    buy(client, language="pt-PT")

    buyer.refresh_from_db()
    assert buyer.language == "pt-pt"


def test_a_guest_checkout_naming_an_existing_account_leaves_its_language_alone(stripe_answers):
    owner = UserFactory(email="ana@example.com", language="en")

    buy(APIClient(), language="pt-PT", email="ana@example.com")

    owner.refresh_from_db()
    assert owner.language == "en"
