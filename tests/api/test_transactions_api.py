"""GET /api/finances/transactions/: the caller's purchases, as student or payer."""

from datetime import UTC, datetime, timedelta

import pytest

from finances.models import PurchaseTransaction
from tests.factories import GuardianStudentLinkFactory, PurchaseTransactionFactory, UserFactory
from tests.support.payments import purchase_pay
from tests.support.webhook_pipeline_helpers import assert_error_envelope

pytestmark = pytest.mark.django_db
URL = "/api/finances/transactions/"
Status = PurchaseTransaction.Status
START = datetime(2024, 1, 1, tzinfo=UTC)


def purchase_on(day: int, **fields):
    return PurchaseTransactionFactory(created_at=START + timedelta(days=day), **fields)


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["transaction_id"] for item in response.json()["results"]]


@pytest.fixture
def student():
    return UserFactory()


def test_an_anonymous_caller_is_not_authenticated(api_client):
    response = api_client.get(URL)

    assert_error_envelope(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"]  # a 401 says how to authenticate


def test_a_student_sees_their_purchases_newest_first_and_nobody_elses(api_client, student):
    old = purchase_on(1, student=student)
    new = purchase_on(9, student=student)
    middle = purchase_on(5, student=student)
    purchase_on(7)  # another student's
    api_client.force_authenticate(student)

    response = api_client.get(URL)

    assert listed(response) == [str(new.pk), str(middle.pk), str(old.pk)]
    assert response.json()["count"] == 3


def test_a_guardian_sees_what_they_paid_for_and_their_own(api_client):
    link = GuardianStudentLinkFactory()
    paid_for_child = purchase_on(2, student=link.student, purchased_by=link.guardian)
    own = purchase_on(3, student=link.guardian)
    child_alone = purchase_on(4, student=link.student)  # the child paid this one
    api_client.force_authenticate(link.guardian)

    assert listed(api_client.get(URL)) == [str(own.pk), str(paid_for_child.pk)]

    api_client.force_authenticate(link.student)
    assert listed(api_client.get(URL)) == [str(child_alone.pk), str(paid_for_child.pk)]


def test_each_item_describes_the_purchase(api_client, student):
    purchase = purchase_on(1, student=student)
    purchase_pay(purchase)
    api_client.force_authenticate(student)

    (item,) = api_client.get(URL).json()["results"]

    assert item["transaction_id"] == str(purchase.pk)
    assert item["status"] == Status.COMPLETED
    assert (item["hours"], item["amount"], item["currency"]) == ("10.00", "140.00", "EUR")
    assert item["amount_refunded"] == "0.00"
    assert item["payment_intent_id"] == purchase.stripe_payment_intent_id
    assert item["plan_id"] == purchase.plan_id
    assert item["paid_at"] is not None
    assert item["expires_at"] is not None
    assert item["is_expired"] is False
    assert "client_secret_hash" not in item


def test_the_list_is_paginated(api_client, student):
    made = [purchase_on(day, student=student) for day in range(5)]
    api_client.force_authenticate(student)

    first = api_client.get(URL, {"page_size": 2}).json()
    last = api_client.get(URL, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert [item["transaction_id"] for item in first["results"]] == [
        str(made[4].pk),
        str(made[3].pk),
    ]
    assert last["next"] is None
    assert [item["transaction_id"] for item in last["results"]] == [str(made[0].pk)]


def test_the_default_page_holds_twenty(api_client, student):
    for day in range(21):
        purchase_on(day, student=student)
    api_client.force_authenticate(student)

    body = api_client.get(URL).json()

    assert (body["count"], len(body["results"])) == (21, 20)
    assert body["next"] is not None


def test_a_page_past_the_end_is_not_found(api_client, student):
    purchase_on(1, student=student)
    api_client.force_authenticate(student)

    assert_error_envelope(api_client.get(URL, {"page": 9}), 404, "not_found")


def test_the_list_can_be_filtered_by_status(api_client, student):
    purchase_on(1, student=student)
    failed = purchase_on(2, student=student, status=Status.FAILED)
    purchase_on(3, status=Status.FAILED)  # another student's
    api_client.force_authenticate(student)

    response = api_client.get(URL, {"status": "FAILED"})

    assert listed(response) == [str(failed.pk)]
    assert response.json()["count"] == 1


@pytest.mark.parametrize("status", ["failed", "PAID", "COMPLETED,FAILED", " "])
def test_an_unknown_status_is_a_validation_error(api_client, student, status):
    api_client.force_authenticate(student)

    response = api_client.get(URL, {"status": status})

    error = assert_error_envelope(response, 400, "validation_error")
    assert "status" in error["fields"]
