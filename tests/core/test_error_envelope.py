"""Every way the API can fail answers `{"error": {"code", "message", "fields"?}}`."""

import pytest
from rest_framework.test import APIClient

from finances.models import PurchaseTransaction
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.purchase_initiation_helpers import (
    INITIATE_URL,
    STRIPE_FAILURES,
    fake_stripe_running,
)

pytestmark = pytest.mark.django_db


def assert_envelope(response, *, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(error) <= {"code", "message", "fields"}
    return error


def guest_body(plan) -> dict:
    return {"plan_id": plan.pk, "student_info": {"name": "Ana Silva", "email": "ana@example.com"}}


def test_invalid_fields_answer_400_validation_error_with_the_fields(api_client):
    response = api_client.post(
        INITIATE_URL,
        {"plan_id": "abc", "student_info": {"name": "😀", "email": "nope"}},
        format="json",
    )

    error = assert_envelope(response, status=400, code="validation_error")
    assert set(error["fields"]) == {"plan_id", "student_info"}
    assert set(error["fields"]["student_info"]) == {"name", "email"}


def test_a_body_that_is_not_json_answers_400_malformed_request(api_client):
    response = api_client.generic(
        "POST", INITIATE_URL, b'{"plan_id": 1,', content_type="application/json"
    )

    error = assert_envelope(response, status=400, code="malformed_request")
    assert "fields" not in error


def test_an_unauthenticated_call_to_a_private_endpoint_answers_401(api_client):
    response = api_client.get("/api/finances/balance/")

    assert_envelope(response, status=401, code="not_authenticated")
    assert response.has_header("WWW-Authenticate")


def test_a_bad_token_answers_401_authentication_failed(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api_client.get("/api/finances/balance/")

    assert_envelope(response, status=401, code="authentication_failed")


def test_a_session_post_without_a_csrf_token_answers_403_in_the_envelope():
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory())

    response = client.post(INITIATE_URL, {"plan_id": 1}, format="json")

    assert_envelope(response, status=403, code="permission_denied")
    assert not PurchaseTransaction.objects.exists()


def test_an_unknown_api_url_answers_404_from_the_django_handler(api_client):
    response = api_client.get("/api/finances/no-such-thing/")

    assert_envelope(response, status=404, code="not_found")


def test_an_unknown_purchase_answers_404_from_the_api(api_client):
    response = api_client.get("/api/finances/purchase/00000000-0000-4000-8000-000000000000/status/")

    assert_envelope(response, status=404, code="not_found")


def test_a_wrong_method_answers_405(api_client):
    response = api_client.get(INITIATE_URL)

    assert_envelope(response, status=405, code="method_not_allowed")
    assert "POST" in response["Allow"]


def test_a_body_that_is_not_json_by_content_type_answers_415(api_client):
    response = api_client.generic("POST", INITIATE_URL, b"plan_id=1", content_type="text/plain")

    assert_envelope(response, status=415, code="unsupported_media_type")


def test_a_disallowed_host_answers_400_from_the_django_handler(api_client):
    response = api_client.get("/api/finances/plans/", HTTP_HOST="attacker.example")

    assert_envelope(response, status=400, code="bad_request")


def test_too_many_attempts_answer_429_with_retry_after(api_client, settings):
    settings.RATE_LIMITING_ENABLED = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "purchase_initiate_ip": "1/hour"}
    api_client.post(INITIATE_URL, {}, format="json")  # the one allowed attempt

    response = api_client.post(INITIATE_URL, {}, format="json")

    assert_envelope(response, status=429, code="rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_an_unexpected_crash_answers_500_internal_error_without_details(monkeypatch):
    # Fault injection: the service crashes as a bug would.
    def crash(**kwargs):
        raise RuntimeError("secret internals: sk_live_xyz")

    monkeypatch.setattr("finances.api.purchases.purchase_initiate", crash)
    client = APIClient(raise_request_exception=False)

    response = client.post(INITIATE_URL, guest_body(PricingPlanFactory()), format="json")

    error = assert_envelope(response, status=500, code="internal_error")
    assert "secret" not in response.content.decode()
    assert "fields" not in error


def test_a_crash_outside_the_api_views_answers_500_in_the_envelope_under_api(monkeypatch):
    # Fault injection below DRF: the URL resolver itself fails, so only Django's
    # handler500 can answer.
    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("django.urls.resolvers.URLResolver.resolve", crash)
    client = APIClient(raise_request_exception=False)

    response = client.get("/api/finances/plans/")

    assert_envelope(response, status=500, code="internal_error")


@pytest.mark.parametrize(
    "failure_name", ["card_declined_402", "invalid_request_400", "server_error_500"]
)
def test_stripe_failures_answer_402_502_or_503_in_the_envelope(api_client, settings, failure_name):
    failure = STRIPE_FAILURES[failure_name]
    plan = PricingPlanFactory()

    with fake_stripe_running(settings) as stripe_server:
        failure.play(stripe_server)
        response = api_client.post(INITIATE_URL, guest_body(plan), format="json")

    assert_envelope(response, status=failure.expected_http_status, code=failure.expected_code)
    if failure.expected_retry_after:
        assert response["Retry-After"] == failure.expected_retry_after
    assert PurchaseTransaction.objects.get().status == PurchaseTransaction.Status.FAILED


def test_stripe_being_unreachable_answers_503_with_retry_after(api_client):
    # The suite points Stripe at a port where nothing listens.
    response = api_client.post(INITIATE_URL, guest_body(PricingPlanFactory()), format="json")

    assert_envelope(response, status=503, code="payment_provider_unavailable")
    assert response["Retry-After"] == "30"
