"""POST /api/finances/purchase/initiate/ with the buyer's payment method (the storefront's
flow): the server confirms the PaymentIntent, answers what the browser must still do, and
an Idempotency-Key makes a repeated request answer the first one's outcome. Against
localstripe."""

import uuid

import pytest

from finances.models import PurchaseTransaction
from tests.factories import PricingPlanFactory
from tests.support.purchase_initiation_helpers import INITIATE_URL

pytestmark = pytest.mark.django_db

SETUP_INTENT_URL = "/api/finances/checkout/setup-intent/"
Status = PurchaseTransaction.Status


def _card(localstripe, number: str) -> str:
    method = localstripe.client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return method.id


def _pay(
    api_client, plan, payment_method_id: str, *, key: str | None = None, email="ana@example.com"
):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api_client.post(
        INITIATE_URL,
        {
            "plan_id": plan.pk,
            "payment_method_id": payment_method_id,
            "student_info": {"name": "Ana Silva", "email": email},
        },
        format="json",
        **headers,
    )


@pytest.fixture
def plan():
    return PricingPlanFactory(name="10 hours", minutes=600, price_cents=14000, validity_days=45)


def test_a_good_card_is_charged_by_the_server_and_nothing_is_left_for_the_browser(
    api_client, localstripe, plan
):
    response = _pay(api_client, plan, _card(localstripe, "4242424242424242"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["payment_intent_status"] == "succeeded"
    assert localstripe.retrieve(body["payment_intent_id"]).status == "succeeded"
    # The hours come with the webhook, as for any other payment.
    assert PurchaseTransaction.objects.get(pk=body["transaction_id"]).status == Status.PENDING


def test_a_card_that_asks_for_3d_secure_leaves_the_authentication_to_the_browser(
    api_client, localstripe, plan
):
    response = _pay(api_client, plan, _card(localstripe, "4000002500003155"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["payment_intent_status"] == "requires_action"
    assert body["client_secret"].startswith(body["payment_intent_id"])


def test_a_declined_card_answers_402_in_plain_words_and_the_purchase_is_failed(
    api_client, localstripe, plan
):
    response = _pay(api_client, plan, _card(localstripe, "4000000000000341"))

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "payment_declined"
    assert "declined" in error["message"]
    purchase = PurchaseTransaction.objects.get()
    assert purchase.status == Status.FAILED
    assert purchase.failure_reason.startswith("payment_declined: ")


def test_the_same_idempotency_key_answers_the_first_purchase_without_a_second_charge(
    api_client, localstripe, plan
):
    key = str(uuid.uuid4())
    card = _card(localstripe, "4242424242424242")
    first = _pay(api_client, plan, card, key=key)
    again = _pay(api_client, plan, _card(localstripe, "4242424242424242"), key=key)

    assert (first.status_code, again.status_code) == (201, 200)
    for field in ("transaction_id", "payment_intent_id", "client_secret"):
        assert again.json()[field] == first.json()[field]
    assert again.json()["payment_intent_status"] == "succeeded"
    assert PurchaseTransaction.objects.count() == 1
    intents = localstripe.client.v1.payment_intents.list(params={"limit": 100}).data
    for_this_purchase = [
        intent.id
        for intent in intents
        if intent.to_dict()["metadata"].get("transaction_id") == first.json()["transaction_id"]
    ]
    assert for_this_purchase == [first.json()["payment_intent_id"]]


def test_a_repeated_declined_attempt_is_declined_again_and_a_new_key_is_a_new_purchase(
    api_client, localstripe, plan
):
    key = str(uuid.uuid4())
    declined = _card(localstripe, "4000000000000341")
    assert _pay(api_client, plan, declined, key=key).status_code == 402
    assert _pay(api_client, plan, declined, key=key).status_code == 402
    assert PurchaseTransaction.objects.count() == 1

    retry = _pay(api_client, plan, _card(localstripe, "4242424242424242"), key=str(uuid.uuid4()))

    assert retry.status_code == 201
    assert sorted(PurchaseTransaction.objects.values_list("status", flat=True)) == [
        Status.FAILED,
        Status.PENDING,
    ]


def test_the_same_key_from_another_buyer_is_another_purchase(api_client, localstripe, plan):
    key = str(uuid.uuid4())
    first = _pay(api_client, plan, _card(localstripe, "4242424242424242"), key=key)
    other = _pay(
        api_client, plan, _card(localstripe, "4242424242424242"), key=key, email="rui@example.com"
    )

    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json()["transaction_id"] != first.json()["transaction_id"]


@pytest.mark.parametrize("key", ["short", "has spaces in it, sixteen+", "x" * 101])
def test_a_malformed_idempotency_key_is_refused_before_anything_is_created(
    api_client, localstripe, plan, key
):
    response = _pay(api_client, plan, "pm_card_visa", key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not PurchaseTransaction.objects.exists()


def test_a_payment_method_id_that_is_not_a_stripe_id_is_refused(api_client, localstripe, plan):
    response = _pay(api_client, plan, "tok_visa; DROP TABLE")

    assert response.status_code == 400
    assert "payment_method_id" in response.json()["error"]["fields"]


def test_a_setup_intent_is_handed_out_for_stripe_js(api_client, localstripe):
    response = api_client.post(SETUP_INTENT_URL, {}, format="json")

    assert response.status_code == 201
    secret = response.json()["client_secret"]
    assert secret.startswith("seti_")
    assert "_secret_" in secret


def test_setup_intents_are_rate_limited_per_client_network(api_client, localstripe, settings):
    settings.RATE_LIMITING_ENABLED = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "checkout_setup_ip": "2/hour"}

    statuses = [api_client.post(SETUP_INTENT_URL, {}, format="json").status_code for _ in range(3)]

    assert statuses == [201, 201, 429]


def test_a_payment_method_stripe_does_not_know_is_a_field_error(api_client, localstripe, plan):
    response = _pay(api_client, plan, "pm_nobodyknowsthisone")

    assert response.status_code == 400
    assert "payment_method_id" in response.json()["error"]["fields"]
    assert PurchaseTransaction.objects.get().status == Status.FAILED
