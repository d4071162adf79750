"""POST /api/finances/purchase/initiate/ against localstripe."""

import unicodedata
import uuid

import pytest
from rest_framework.authtoken.models import Token

from accounts.models import User
from finances.models import PurchaseTransaction
from tests.factories import (
    GuardianStudentLinkFactory,
    PricingPlanFactory,
    SubscriptionPlanFactory,
    UserFactory,
)
from tests.support.purchase_initiation_helpers import INITIATE_URL

pytestmark = pytest.mark.django_db

RESPONSE_KEYS = {
    "transaction_id",
    "payment_intent_id",
    "client_secret",
    "status",
    "amount",
    "currency",
    "plan",
    "payment_intent_status",
}
PER_PURCHASE_VALUES = ("transaction_id", "payment_intent_id", "client_secret")


def initiate(client, body: dict):
    return client.post(INITIATE_URL, body, format="json")


def guest_body(plan, *, name: str = "Ana Silva", email: str = "ana@example.com") -> dict:
    return {"plan_id": plan.pk, "student_info": {"name": name, "email": email}}


def test_a_guest_purchase_answers_201_with_the_payment_details(api_client, localstripe):
    plan = PricingPlanFactory(name="10 hours", minutes=600, price_cents=14000, validity_days=45)

    response = initiate(api_client, guest_body(plan))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == RESPONSE_KEYS
    purchase = PurchaseTransaction.objects.get()
    assert body["transaction_id"] == str(purchase.pk)
    assert body["payment_intent_id"] == purchase.stripe_payment_intent_id
    assert (
        body["client_secret"]
        == localstripe.retrieve(purchase.stripe_payment_intent_id).client_secret
    )
    assert (body["status"], body["amount"], body["currency"]) == ("PENDING", "140.00", "EUR")
    assert body["plan"] == {
        "id": plan.pk,
        "name": "10 hours",
        "plan_type": "PACKAGE",
        "hours": "10.00",
        "validity_days": 45,
        "billing_period": None,
    }


def test_a_subscription_plan_is_refused_and_pointed_to_the_subscriptions_api(api_client):
    plan = SubscriptionPlanFactory(minutes=900, price_cents=11900)

    response = initiate(api_client, guest_body(plan))

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert "/api/finances/subscriptions/" in body["error"]["fields"]["plan_id"][0]
    assert not PurchaseTransaction.objects.exists()


def test_the_answer_does_not_reveal_whether_the_email_has_an_account(api_client, localstripe):
    plan = PricingPlanFactory()
    UserFactory(email="known@example.com", name="Known Person")

    for_new = initiate(api_client, guest_body(plan, email="new@example.com"))
    for_known = initiate(api_client, guest_body(plan, email="known@example.com"))

    assert for_new.status_code == for_known.status_code == 201
    assert for_new["Content-Type"] == for_known["Content-Type"]
    new_body, known_body = for_new.json(), for_known.json()
    assert set(new_body) == set(known_body) == RESPONSE_KEYS
    for key in PER_PURCHASE_VALUES:
        new_body.pop(key)
        known_body.pop(key)
    assert new_body == known_body


def test_a_guest_checkout_for_a_known_email_credits_that_account_unchanged(api_client, localstripe):
    known = UserFactory(email="known@example.com", name="Known Person")

    response = initiate(
        api_client, guest_body(PricingPlanFactory(), name="Other", email="Known@Example.com")
    )

    assert response.status_code == 201
    assert PurchaseTransaction.objects.get().student_id == known.pk
    known.refresh_from_db()
    assert (known.name, known.is_guest) == ("Known Person", False)


def test_a_price_sent_by_the_client_is_ignored(api_client, localstripe):
    plan = PricingPlanFactory(price_cents=14000)
    body = {**guest_body(plan), "amount": 1, "price": "0.01", "amount_cents": 1, "currency": "USD"}

    response = initiate(api_client, body)

    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["currency"]) == ("140.00", "EUR")
    purchase = PurchaseTransaction.objects.get()
    assert (purchase.amount_cents, purchase.currency) == (14000, "EUR")
    intent = localstripe.retrieve(purchase.stripe_payment_intent_id)
    assert (intent.amount, intent.currency) == (14000, "eur")


def test_a_token_authenticated_user_buys_for_themselves_without_student_info(
    api_client, localstripe
):
    buyer = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=buyer).key}")

    response = initiate(api_client, {"plan_id": PricingPlanFactory().pk})

    assert response.status_code == 201, response.json()
    purchase = PurchaseTransaction.objects.get(pk=response.json()["transaction_id"])
    assert (purchase.student_id, purchase.purchased_by_id) == (buyer.pk, None)
    assert User.objects.count() == 1


def test_a_token_authenticated_guardian_buys_for_a_linked_student(api_client, localstripe):
    link = GuardianStudentLinkFactory()
    token = Token.objects.create(user=link.guardian)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = initiate(
        api_client, guest_body(PricingPlanFactory(), name="Kid", email=link.student.email.upper())
    )

    assert response.status_code == 201, response.json()
    purchase = PurchaseTransaction.objects.get()
    assert (purchase.student_id, purchase.purchased_by_id) == (link.student_id, link.guardian_id)


def test_a_guest_without_student_info_gets_400_with_the_field(api_client):
    response = initiate(api_client, {"plan_id": PricingPlanFactory().pk})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["student_info"]
    assert not PurchaseTransaction.objects.exists()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("student_info", "bad_fields"),
    [
        ({"name": "Ana"}, {"email"}),
        ({"email": "ana@example.com"}, {"name"}),
        ({"name": "Ana 😀", "email": "ana@example.com"}, {"name"}),
        ({"name": "Ana2", "email": "ana@example.com"}, {"name"}),
        ({"name": "   ", "email": "ana@example.com"}, {"name"}),
        ({"name": "Ana", "email": "not-an-email"}, {"email"}),
        ({"name": "Ana", "email": "ana@"}, {"email"}),
        ({"name": "A" * 151, "email": "ana@example.com"}, {"name"}),
    ],
)
def test_invalid_student_info_gets_400_naming_the_field(api_client, student_info, bad_fields):
    response = initiate(
        api_client, {"plan_id": PricingPlanFactory().pk, "student_info": student_info}
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]["student_info"]) == bad_fields
    assert not PurchaseTransaction.objects.exists()


@pytest.mark.parametrize("plan_id", ["unknown", "inactive", "abc", None, 0, -1, 2**40, 1.5])
def test_an_invalid_plan_gets_400_on_plan_id(api_client, plan_id):
    inactive = PricingPlanFactory(is_active=False)
    plan_id = {"unknown": inactive.pk + 1000, "inactive": inactive.pk}.get(plan_id, plan_id)

    response = initiate(
        api_client, {"plan_id": plan_id, "student_info": guest_body(inactive)["student_info"]}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("validation_error", ["plan_id"])
    assert not PurchaseTransaction.objects.exists()


def test_a_missing_plan_id_gets_400_on_plan_id(api_client):
    response = initiate(api_client, {"student_info": {"name": "Ana", "email": "a@b.co"}})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["plan_id"]


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("Ανδρέας Παπαδόπουλος", "Ανδρέας Παπαδόπουλος"),
        ("محمد عبد الله", "محمد عبد الله"),
        ("李小龍", "李小龍"),
        ("Nguye\u0302\u0303n  Va\u0306n   An", "Nguyễn Văn An"),
        ("देवनागरी शर्मा", "देवनागरी शर्मा"),
    ],
)
def test_a_guest_name_in_any_script_is_stored_normalized(api_client, localstripe, name, stored):
    email = f"{uuid.uuid4().hex[:8]}@example.com"

    response = initiate(api_client, guest_body(PricingPlanFactory(), name=name, email=email))

    assert response.status_code == 201, response.json()
    guest = User.objects.get(email=email)
    assert guest.name == stored
    assert unicodedata.is_normalized("NFC", guest.name)


def test_a_guest_email_is_normalized_before_anything_is_stored(api_client, localstripe):
    response = initiate(
        api_client, guest_body(PricingPlanFactory(), email="  Ana.Silva@Example.COM ")
    )

    assert response.status_code == 201
    guest = User.objects.get()
    assert guest.email == "ana.silva@example.com"
    assert guest.is_guest
    assert PurchaseTransaction.objects.get().student_id == guest.pk
