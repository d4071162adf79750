"""GET /api/finances/purchase/<id>/status/: for its parties, staff, or the client secret."""

import logging
import uuid

import pytest

from core.logging import StructuredFormatter
from finances.models import PurchaseTransaction
from finances.services.purchases import client_secret_hash
from tests.factories import (
    GuardianStudentLinkFactory,
    GuestUserFactory,
    PurchaseTransactionFactory,
    StaffUserFactory,
    UserFactory,
)
from tests.support.payments import purchase_pay
from tests.support.webhook_pipeline_helpers import assert_error_envelope

pytestmark = pytest.mark.django_db
SECRET = "pi_test_status_secret_abc123"


def url(transaction_id) -> str:
    return f"/api/finances/purchase/{transaction_id}/status/"


@pytest.fixture
def link():
    return GuardianStudentLinkFactory()


@pytest.fixture
def purchase(link):
    return PurchaseTransactionFactory(
        student=link.student,
        purchased_by=link.guardian,
        guardian_link=link,
        client_secret_hash=client_secret_hash(SECRET),
    )


def assert_sees(response, purchase):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["transaction_id"] == str(purchase.pk)
    assert body["status"] == purchase.status
    return body


def assert_hidden(response):
    error = assert_error_envelope(response, 404, "not_found")
    assert set(error) == {"code", "message"}
    return error


@pytest.mark.parametrize("who", ["student", "guardian"])
def test_the_student_and_the_payer_see_the_status(api_client, link, purchase, who):
    api_client.force_authenticate(getattr(link, who))

    assert_sees(api_client.get(url(purchase.pk)), purchase)


def test_staff_see_any_purchase(api_client, purchase):
    api_client.force_authenticate(StaffUserFactory())

    assert_sees(api_client.get(url(purchase.pk)), purchase)


def test_the_status_follows_the_payment(api_client, link, purchase):
    purchase_pay(purchase)
    api_client.force_authenticate(link.student)

    body = assert_sees(api_client.get(url(purchase.pk)), purchase)

    assert body["status"] == PurchaseTransaction.Status.COMPLETED
    assert body["paid_at"] is not None
    assert body["hours"] == "10.00"


def test_a_guest_with_the_client_secret_in_the_header_sees_it(api_client, purchase):
    response = api_client.get(url(purchase.pk), HTTP_X_CLIENT_SECRET=SECRET)

    assert_sees(response, purchase)


@pytest.mark.parametrize("also_in_header", [False, True])
def test_a_client_secret_in_the_query_string_is_refused_with_400_naming_the_header(
    api_client, purchase, also_in_header
):
    # A secret in the URL is written to access and proxy logs: it is never accepted.
    headers = {"HTTP_X_CLIENT_SECRET": SECRET} if also_in_header else {}

    response = api_client.get(url(purchase.pk), {"client_secret": SECRET}, **headers)

    error = assert_error_envelope(response, 400, "client_secret_in_url")
    assert "X-Client-Secret" in error["message"]
    assert SECRET not in response.content.decode()


def test_a_refused_query_string_secret_is_not_written_to_the_application_logs(
    api_client, purchase, caplog
):
    # django.request logs refused requests with the request object, whose repr is the
    # full URL; our formatter must render only the path.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.WARNING, logger="django.request")

    api_client.get(url(purchase.pk), {"client_secret": SECRET})

    refusal = [record for record in caplog.records if record.name == "django.request"]
    assert refusal, "django.request logs every 4xx at WARNING"
    for style in ("text", "json"):
        lines = [StructuredFormatter(style_name=style).format(r) for r in caplog.records]
        assert any(f"/purchase/{purchase.pk}/status/" in line for line in lines)
        assert not any(SECRET in line for line in lines), lines


def test_a_logged_in_guest_account_with_the_secret_sees_it(api_client, purchase):
    api_client.force_authenticate(GuestUserFactory())

    assert_sees(api_client.get(url(purchase.pk), HTTP_X_CLIENT_SECRET=SECRET), purchase)


def test_the_secret_is_never_returned(api_client, purchase):
    body = assert_sees(api_client.get(url(purchase.pk), HTTP_X_CLIENT_SECRET=SECRET), purchase)

    assert SECRET not in str(body)
    assert purchase.client_secret_hash not in str(body)


@pytest.mark.parametrize(
    "secret", [SECRET + "x", SECRET[:-1], SECRET.upper(), "", "pi_other_secret_zzz"]
)
def test_a_wrong_client_secret_sees_nothing(api_client, purchase, secret):
    assert_hidden(api_client.get(url(purchase.pk), HTTP_X_CLIENT_SECRET=secret))


def test_a_purchase_without_a_stored_secret_cannot_be_opened_by_any_secret(api_client, link):
    purchase = PurchaseTransactionFactory(student=link.student, client_secret_hash="")

    assert_hidden(api_client.get(url(purchase.pk), HTTP_X_CLIENT_SECRET=""))
    assert_hidden(api_client.get(url(purchase.pk), HTTP_X_CLIENT_SECRET="anything"))


def test_the_secret_of_another_purchase_does_not_open_this_one(api_client, purchase):
    other_secret = "pi_test_other_secret_999"
    PurchaseTransactionFactory(client_secret_hash=client_secret_hash(other_secret))

    assert_hidden(api_client.get(url(purchase.pk), HTTP_X_CLIENT_SECRET=other_secret))


def test_another_user_sees_nothing_and_cannot_tell_it_exists(api_client, purchase):
    api_client.force_authenticate(UserFactory())

    foreign = assert_hidden(api_client.get(url(purchase.pk)))
    missing = assert_hidden(api_client.get(url(uuid.uuid4())))

    assert foreign == missing


def test_an_anonymous_caller_without_a_secret_cannot_tell_it_exists(api_client, purchase):
    foreign = assert_hidden(api_client.get(url(purchase.pk)))
    missing = assert_hidden(api_client.get(url(uuid.uuid4()), HTTP_X_CLIENT_SECRET=SECRET))

    assert foreign == missing


def test_an_id_that_is_not_a_uuid_is_not_found(api_client):
    assert_hidden(api_client.get(url("not-a-uuid")))
