"""The request page's card flow: the guardian's card (a PaymentMethod from Stripe.js) is
sent with the approval, and the server creates AND confirms the PaymentIntent, as on the
checkout page; the browser authenticates only on `requires_action`."""

import pytest

from finances.models import PurchaseTransaction
from finances.services.family_requests import purchase_request_create
from tests.factories import PricingPlanFactory
from tests.support.families import client_as, family_create

pytestmark = pytest.mark.django_db

URL = "/api/finances/purchase-requests/"


def _card(localstripe, number: str) -> str:
    method = localstripe.client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return method.id


def _pay(guardian, request, headers=None, **body):
    return client_as(guardian).post(
        f"{URL}{request.pk}/pay/", body, format="json", headers=headers or {}
    )


@pytest.fixture
def asked():
    family = family_create()
    plan = PricingPlanFactory(minutes=600, price_cents=14000)
    return family, purchase_request_create(student=family.student, plan_id=plan.pk)


def test_a_good_card_is_charged_by_the_server_for_the_guardian(localstripe, asked):
    family, request = asked

    response = _pay(
        family.guardian,
        request,
        headers={"Idempotency-Key": "family-attempt-0001"},
        payment_method_id=_card(localstripe, "4242424242424242"),
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["payment_intent_status"] == "succeeded"
    intent = localstripe.retrieve(body["payment_intent_id"])
    assert intent.status == "succeeded"
    assert intent.metadata["purchase_request_id"] == str(request.pk)
    purchase = PurchaseTransaction.objects.get(pk=body["transaction_id"])
    assert (purchase.student, purchase.purchased_by) == (family.student, family.guardian)


def test_a_card_that_asks_for_3d_secure_leaves_the_authentication_to_the_browser(
    localstripe, asked
):
    family, request = asked

    response = _pay(
        family.guardian, request, payment_method_id=_card(localstripe, "4000002500003155")
    )

    assert response.status_code == 201, response.json()
    assert response.json()["payment_intent_status"] == "requires_action"


def test_a_repeated_approval_answers_the_same_payment_and_its_status(localstripe, asked):
    family, request = asked
    card = _card(localstripe, "4000002500003155")

    first = _pay(family.guardian, request, payment_method_id=card)
    again = _pay(family.guardian, request, payment_method_id=card)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["payment_intent_id"] == first.json()["payment_intent_id"]
    assert again.json()["payment_intent_status"] == "requires_action"
    assert PurchaseTransaction.objects.filter(purchase_request=request).count() == 1


def test_a_payment_method_id_that_is_not_a_stripe_id_is_refused(localstripe, asked):
    family, request = asked

    response = _pay(family.guardian, request, payment_method_id="not-a-card")

    assert response.status_code == 400
    assert "payment_method_id" in response.json()["error"]["fields"]
    assert not PurchaseTransaction.objects.filter(purchase_request=request).exists()


def test_a_malformed_idempotency_key_is_refused(localstripe, asked):
    family, request = asked

    response = _pay(family.guardian, request, headers={"Idempotency-Key": "short"})

    assert response.status_code == 400
    assert not PurchaseTransaction.objects.filter(purchase_request=request).exists()


def test_the_student_sending_a_card_still_cannot_pay_their_own_request(localstripe, asked):
    family, request = asked

    response = _pay(
        family.student, request, payment_method_id=_card(localstripe, "4242424242424242")
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_the_guardian"
    assert not PurchaseTransaction.objects.filter(purchase_request=request).exists()
