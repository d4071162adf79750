"""The subscriptions API against localstripe: the buyer rules of purchases (guests get an
account, guardians subscribe for linked students), 3-D Secure, Stripe.js tokens, declines,
who sees what, plan changes and rate limits."""

from datetime import UTC, datetime

import pytest
import requests
import time_machine
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from finances.models import HoursLedgerEntry, Subscription, SubscriptionPeriod
from tests.factories import (
    GuardianStudentLinkFactory,
    PricingPlanFactory,
    SubscriptionPlanFactory,
    UserFactory,
)
from tests.support.subscriptions import SUBSCRIPTIONS_URL, deliver_localstripe_events

pytestmark = pytest.mark.django_db
Status = Subscription.Status
THREE_D_SECURE_CARD = "4000002500003155"


@pytest.fixture
def plan():
    return SubscriptionPlanFactory(slug="api-monthly", minutes=900, price_cents=11900)


def signed_in(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def subscribe(client, plan, payment_method_id="pm_card_visa", **body):
    return client.post(
        SUBSCRIPTIONS_URL,
        {"plan_id": plan.pk, "payment_method_id": payment_method_id, **body},
        format="json",
    )


def card(localstripe, number: str) -> str:
    return localstripe.client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    ).id


def credited_minutes(student) -> list[int]:
    return list(HoursLedgerEntry.objects.filter(student=student).values_list("minutes", flat=True))


def test_a_guest_subscribes_with_a_name_and_email_and_gets_a_guest_account(localstripe, plan):
    response = subscribe(
        APIClient(), plan, student_info={"name": "Ana Silva", "email": "ana@example.com"}
    )

    assert response.status_code == 201, response.json()
    student = User.objects.get(email="ana@example.com")
    subscription = Subscription.objects.get()
    assert (subscription.student, subscription.payer) == (student, student)
    assert response.json()["status"] == "ACTIVE"
    assert credited_minutes(student) == [900]
    customer = localstripe.client.v1.customers.retrieve(subscription.stripe_customer_id)
    assert (customer.email, customer.name) == ("ana@example.com", "Ana Silva")


def test_a_guest_without_student_info_gets_400_and_nothing_is_created(plan):
    response = subscribe(APIClient(), plan)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["student_info"]
    assert not Subscription.objects.exists()


def test_a_package_plan_is_refused_and_pointed_to_the_purchase_api():
    response = subscribe(APIClient(), PricingPlanFactory())

    assert response.status_code == 400
    assert "/api/finances/purchase/" in response.json()["error"]["fields"]["plan_id"][0]


def test_an_unlinked_student_cannot_be_subscribed_for(plan):
    stranger = UserFactory()

    response = subscribe(
        signed_in(UserFactory()), plan, student_info={"name": "X Y", "email": stranger.email}
    )

    assert response.status_code == 400
    assert not Subscription.objects.exists()


def test_a_card_that_needs_3d_secure_answers_the_client_secret_and_grants_once_confirmed(
    localstripe, plan
):
    student = UserFactory()

    response = subscribe(signed_in(student), plan, card(localstripe, THREE_D_SECURE_CARD))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "INCOMPLETE"
    assert body["client_secret"].startswith("pi_")
    assert credited_minutes(student) == []
    intent_id = body["client_secret"].split("_secret_")[0]
    confirmed = requests.post(
        f"{localstripe.api_base}/v1/payment_intents/{intent_id}/_authenticate?success=true",
        json={"key": "pk_test_suite", "client_secret": body["client_secret"]},
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    subscription = Subscription.objects.get()
    deliver_localstripe_events(
        localstripe, "invoice.payment_succeeded", subscription=subscription.stripe_subscription_id
    )
    assert Subscription.objects.get().status == Status.ACTIVE
    assert credited_minutes(student) == [900]


def test_a_stripe_js_token_is_saved_on_the_customer_and_charged(localstripe, plan):
    token = localstripe.client.v1.tokens.create(
        params={
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        }
    )
    student = UserFactory()

    response = subscribe(signed_in(student), plan, token.id)

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "ACTIVE"
    assert credited_minutes(student) == [900]


def test_a_declined_first_payment_answers_402_and_leaves_nothing_running(localstripe, plan):
    student = UserFactory()

    response = subscribe(signed_in(student), plan, card(localstripe, "4000000000000341"))

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_declined"
    subscription = Subscription.objects.get()
    assert subscription.status == Status.INCOMPLETE_EXPIRED
    stripe_side = localstripe.client.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
    assert stripe_side.status == "canceled"
    assert credited_minutes(student) == []
    # The student may try again with another card.
    assert subscribe(signed_in(student), plan).status_code == 201


def test_a_second_subscription_for_the_same_student_is_refused(localstripe, plan):
    student = UserFactory()
    client = signed_in(student)
    assert subscribe(client, plan).status_code == 201

    again = subscribe(client, plan)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "subscription_exists"


def test_a_supervised_student_cannot_subscribe_alone_and_nothing_is_started(localstripe, plan):
    link = GuardianStudentLinkFactory()  # the guardian's rule: always ask

    refused = subscribe(signed_in(link.student), plan)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "guardian_approval_required"
    assert "started by the guardian" in refused.json()["error"]["message"]
    assert not Subscription.objects.exists()


def test_a_guardian_subscribes_for_a_supervised_student(localstripe, plan):
    link = GuardianStudentLinkFactory()

    started = subscribe(
        signed_in(link.guardian),
        plan,
        student_info={"name": link.student.name, "email": link.student.email},
    )

    assert started.status_code == 201, started.content
    subscription = Subscription.objects.get()
    assert (subscription.student, subscription.payer) == (link.student, link.guardian)
    assert credited_minutes(link.student) == [900]


def test_a_guardian_sees_the_students_subscription_and_a_stranger_does_not(localstripe, plan):
    link = GuardianStudentLinkFactory(approval_mode="NEVER_ASK")
    assert subscribe(signed_in(link.student), plan).status_code == 201
    subscription = Subscription.objects.get()
    detail = f"{SUBSCRIPTIONS_URL}{subscription.pk}/"

    listed = signed_in(link.guardian).get(SUBSCRIPTIONS_URL).json()
    shown = signed_in(link.guardian).get(detail)
    hidden = signed_in(UserFactory()).get(detail)
    stranger_cancel = signed_in(UserFactory()).post(f"{detail}cancel/", {}, format="json")

    assert [item["subscription_id"] for item in listed] == [str(subscription.pk)]
    assert shown.status_code == 200
    assert shown.json()["periods"][0]["transaction_id"] is not None
    assert hidden.status_code == 404
    assert stranger_cancel.status_code == 404
    assert APIClient().get(SUBSCRIPTIONS_URL).status_code == 401


def test_a_plan_change_takes_effect_at_stripe_for_the_next_period_without_new_hours(
    localstripe, plan
):
    student = UserFactory()
    client = signed_in(student)
    created = subscribe(client, plan).json()
    bigger = SubscriptionPlanFactory(slug="api-monthly-30", minutes=1800, price_cents=19900)

    response = client.post(
        f"{SUBSCRIPTIONS_URL}{created['subscription_id']}/change-plan/",
        {"plan_id": bigger.pk},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["plan"]["id"], body["next_plan"]["id"]) == (plan.pk, bigger.pk)
    stripe_side = localstripe.client.v1.subscriptions.retrieve(
        Subscription.objects.get().stripe_subscription_id
    )
    assert stripe_side["items"]["data"][0]["plan"]["id"] == bigger.stripe_plan_id or (
        stripe_side["items"]["data"][0]["plan"]["id"].endswith("-19900-eur-month")
    )
    assert credited_minutes(student) == [900]
    assert SubscriptionPeriod.objects.count() == 1


def test_subscribing_counts_against_the_purchase_rate_limits(localstripe, plan, settings):
    settings.RATE_LIMITING_ENABLED = True
    settings.RATE_LIMITS = {
        "purchase_initiate_ip": "2/hour",
        "purchase_initiate_email": "5/hour",
        "purchase_initiate_user": "5/hour",
    }
    with time_machine.travel(datetime(2026, 3, 4, 10, 0, 5, tzinfo=UTC), tick=True):
        answers = [subscribe(APIClient(), plan).status_code for _ in range(3)]

    assert answers == [400, 400, 429]


def stripe_subscriptions_of(localstripe, subscription) -> list[str]:
    listed = localstripe.client.v1.subscriptions.list(
        params={"customer": subscription.stripe_customer_id, "status": "all"}
    )
    return [item.id for item in listed.data]


def subscribe_with_key(client, plan, key, payment_method_id="pm_card_visa", **body):
    return client.post(
        SUBSCRIPTIONS_URL,
        {"plan_id": plan.pk, "payment_method_id": payment_method_id, **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_repeated_subscribe_with_the_same_idempotency_key_answers_the_first_subscription(
    localstripe, plan
):
    student = UserFactory()
    client = signed_in(student)

    first = subscribe_with_key(client, plan, "double-click-0001")
    again = subscribe_with_key(client, plan, "double-click-0001")

    assert (first.status_code, again.status_code) == (201, 200), again.json()
    assert again.json()["subscription_id"] == first.json()["subscription_id"]
    assert again.json()["status"] == "ACTIVE"
    subscription = Subscription.objects.get()
    assert stripe_subscriptions_of(localstripe, subscription) == [
        subscription.stripe_subscription_id
    ]
    assert credited_minutes(student) == [900]


def test_a_guests_repeated_subscribe_with_the_same_key_keeps_one_guest_and_one_subscription(
    localstripe, plan
):
    info = {"student_info": {"name": "Ana Silva", "email": "ana@example.com"}}

    first = subscribe_with_key(APIClient(), plan, "guest-attempt-0001", **info)
    again = subscribe_with_key(APIClient(), plan, "guest-attempt-0001", **info)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["subscription_id"] == first.json()["subscription_id"]
    assert User.objects.filter(email="ana@example.com").count() == 1
    assert Subscription.objects.count() == 1


def test_a_repeated_declined_subscribe_answers_402_again_and_calls_stripe_once(localstripe, plan):
    student = UserFactory()
    declining = card(localstripe, "4000000000000341")

    first = subscribe_with_key(signed_in(student), plan, "declined-try-0001", declining)
    again = subscribe_with_key(signed_in(student), plan, "declined-try-0001", declining)

    assert (first.status_code, again.status_code) == (402, 402)
    assert again.json()["error"]["code"] == "payment_declined"
    subscription = Subscription.objects.get()
    assert subscription.status == Status.INCOMPLETE_EXPIRED
    assert stripe_subscriptions_of(localstripe, subscription) == [
        subscription.stripe_subscription_id
    ]
    # A new attempt (a new key) with another card starts a new subscription.
    assert subscribe_with_key(signed_in(student), plan, "declined-try-0002").status_code == 201


def test_a_student_waiting_for_3d_secure_cannot_start_a_second_subscription(localstripe, plan):
    student = UserFactory()
    waiting = subscribe_with_key(
        signed_in(student), plan, "first-tab-000001", card(localstripe, THREE_D_SECURE_CARD)
    )
    assert waiting.status_code == 201
    assert waiting.json()["status"] == "INCOMPLETE"

    second_tab = subscribe_with_key(signed_in(student), plan, "second-tab-00001")

    assert second_tab.status_code == 409
    assert second_tab.json()["error"]["code"] == "subscription_exists"
    subscription = Subscription.objects.get()
    assert stripe_subscriptions_of(localstripe, subscription) == [
        subscription.stripe_subscription_id
    ]


def test_a_repeated_3d_secure_subscribe_answers_the_same_client_secret(localstripe, plan):
    client = signed_in(UserFactory())
    three_d_secure = card(localstripe, THREE_D_SECURE_CARD)

    first = subscribe_with_key(client, plan, "three-d-secure-01", three_d_secure)
    again = subscribe_with_key(client, plan, "three-d-secure-01", three_d_secure)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["client_secret"]
    assert again.json()["client_secret"] == first.json()["client_secret"]


def test_an_idempotency_key_that_is_not_a_key_gets_400(plan):
    response = subscribe_with_key(signed_in(UserFactory()), plan, "short")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert not Subscription.objects.exists()
