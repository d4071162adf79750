"""GET /health/ (load balancers, people) and GET /metrics/ (Prometheus).

The checks' details are for staff (here `staff_client`) and the health bearer token;
anonymous callers get the status only (tests at the end of the health part)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from finances.models import PurchaseTransaction, WebhookEventLog
from tests.factories import (
    PurchaseTransactionFactory,
    StaffUserFactory,
    UserFactory,
    WebhookEventLogFactory,
)
from tests.support.broken_cache import BrokenCache
from tests.support.fake_stripe import FakeStripeServer
from tests.support.payments import purchase_pay

pytestmark = pytest.mark.django_db

HEALTH_URL = "/health/"
METRICS_URL = "/metrics/"
BROKEN_CACHE = {"default": {"BACKEND": "tests.support.broken_cache.BrokenCache"}}
BALANCE = {"object": "balance", "available": [], "pending": [], "livemode": False}


class LeakyBrokenCache(BrokenCache):
    """Down, with the kind of message a driver really gives: where, and as whom."""

    def _down(self, *args, **kwargs):
        raise ConnectionError("redis://:hunter2@cache.internal:6379/0 refused the connection")

    add = get = set = touch = delete = has_key = incr = _down


LEAKY_CACHE = {"default": {"BACKEND": "tests.api.test_health_and_metrics.LeakyBrokenCache"}}


@pytest.fixture
def staff_client() -> APIClient:
    client = APIClient()
    client.force_login(StaffUserFactory(is_superuser=False))
    return client


@pytest.fixture
def fake_stripe(settings):
    server = FakeStripeServer().start()
    server.respond(200, BALANCE)
    settings.STRIPE_API_BASE = server.api_base
    yield server
    server.stop()


def _balance_requests(server: FakeStripeServer) -> int:
    return sum(request.path.startswith("/v1/balance") for request in server.requests)


def test_health_is_ok_when_the_database_the_cache_and_stripe_answer(staff_client, localstripe):
    response = staff_client.get(HEALTH_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "stripe", "webhooks", "schedules"}
    assert all(check["ok"] for check in body["checks"].values()), body
    assert all(check["latency_ms"] >= 0 for check in body["checks"].values())
    assert body["checks"]["stripe"]["api_base"] == localstripe.api_base
    assert body["checks"]["webhooks"]["backlog"] == 0


def test_health_is_degraded_but_200_when_stripe_is_unreachable(staff_client):
    response = staff_client.get(HEALTH_URL)  # Stripe: a refusing port

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["stripe"]["ok"] is False
    assert "payment_provider_unavailable" in body["checks"]["stripe"]["error"]
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["cache"]["ok"]


def test_the_stripe_check_is_cached_so_probes_do_not_hit_stripe(
    staff_client, fake_stripe, settings, time_machine
):
    settings.STRIPE_HEALTH_CHECK_SECONDS = 60
    time_machine.move_to(timezone.now(), tick=False)

    first = staff_client.get(HEALTH_URL).json()
    second = staff_client.get(HEALTH_URL).json()

    assert _balance_requests(fake_stripe) == 1
    assert first["checks"]["stripe"]["ok"]
    assert second["checks"]["stripe"]["ok"]
    assert second["checks"]["stripe"]["checked_at"] == first["checks"]["stripe"]["checked_at"]
    assert (
        fake_stripe.requests[0].headers["Authorization"] == f"Bearer {settings.STRIPE_SECRET_KEY}"
    )

    time_machine.shift(timedelta(seconds=61))
    third = staff_client.get(HEALTH_URL).json()

    assert _balance_requests(fake_stripe) == 2
    assert third["checks"]["stripe"]["checked_at"] != first["checks"]["stripe"]["checked_at"]


def test_a_failed_stripe_check_is_cached_too(staff_client, fake_stripe):
    fake_stripe.respond_with_error(500, "api_error")

    first = staff_client.get(HEALTH_URL).json()
    second = staff_client.get(HEALTH_URL).json()

    assert (first["status"], second["status"]) == ("degraded", "degraded")
    assert _balance_requests(fake_stripe) == 1


def test_stripe_false_skips_the_stripe_check(staff_client, fake_stripe):
    response = staff_client.get(HEALTH_URL, {"stripe": "false"})

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert set(response.json()["checks"]) == {"database", "cache", "webhooks", "schedules"}
    assert fake_stripe.requests == []


def test_health_is_down_503_when_the_cache_is_down(staff_client):
    with override_settings(CACHES=BROKEN_CACHE):
        response = staff_client.get(HEALTH_URL, {"stripe": "false"})

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["cache"]["ok"] is False
    assert "CacheServerDown" in body["checks"]["cache"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_webhooks_waiting_longer_than_the_alert_threshold_make_health_degraded(
    staff_client, settings
):
    settings.WEBHOOK_BACKLOG_ALERT_SECONDS = 900
    now = timezone.now()
    WebhookEventLogFactory(
        status=WebhookEventLog.Status.FAILED,
        next_retry_at=now + timedelta(minutes=1),
        received_at=now - timedelta(seconds=960),
    )
    WebhookEventLogFactory(status=WebhookEventLog.Status.PROCESSED, received_at=now)

    response = staff_client.get(HEALTH_URL, {"stripe": "false"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["webhooks"]["ok"] is False
    assert (
        "oldest unfinished event waits for 960 s (limit 900 s); backlog 1"
        in (body["checks"]["webhooks"]["error"])
    )


def test_a_young_backlog_and_events_waiting_for_a_person_keep_health_ok(staff_client, settings):
    settings.WEBHOOK_BACKLOG_ALERT_SECONDS = 900
    now = timezone.now()
    WebhookEventLogFactory(
        status=WebhookEventLog.Status.FAILED,
        next_retry_at=now + timedelta(minutes=1),
        received_at=now - timedelta(seconds=600),
    )
    WebhookEventLogFactory(  # flagged: no automatic retry, counted apart
        status=WebhookEventLog.Status.FAILED,
        next_retry_at=None,
        received_at=now - timedelta(days=2),
    )

    body = staff_client.get(HEALTH_URL, {"stripe": "false"}).json()

    assert body["status"] == "ok"
    webhooks = body["checks"]["webhooks"]
    assert (webhooks["backlog"], webhooks["failed_needing_attention"]) == (1, 1)
    assert 600 <= webhooks["oldest_unfinished_age_seconds"] < 660


def test_staff_see_the_error_class_and_our_message_never_the_driver_text(staff_client):
    with override_settings(CACHES=LEAKY_CACHE):
        response = staff_client.get(HEALTH_URL, {"stripe": "false"})

    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["error"] == (
        "ConnectionError: the cache did not answer"
    )
    assert b"hunter2" not in response.content
    assert b"cache.internal" not in response.content


def test_anonymous_callers_get_the_status_only(api_client, localstripe):
    response = api_client.get(HEALTH_URL)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert localstripe.api_base.encode() not in response.content


def test_anonymous_callers_see_no_internals_of_a_broken_dependency(api_client):
    with override_settings(CACHES=LEAKY_CACHE):
        response = api_client.get(HEALTH_URL)

    assert response.status_code == 503
    assert response.json() == {"status": "down"}


def test_anonymous_callers_see_no_backlog_and_no_stripe_error(api_client, settings):
    settings.WEBHOOK_BACKLOG_ALERT_SECONDS = 900
    WebhookEventLogFactory(
        status=WebhookEventLog.Status.FAILED,
        received_at=timezone.now() - timedelta(seconds=960),
    )

    response = api_client.get(HEALTH_URL)  # Stripe: a refusing port too

    assert response.json() == {"status": "degraded"}


def test_a_signed_in_user_who_is_not_staff_gets_the_status_only(api_client):
    api_client.force_login(UserFactory())

    assert api_client.get(HEALTH_URL, {"stripe": "false"}).json() == {"status": "ok"}


def test_a_stale_api_token_is_anonymous_not_a_401(api_client):
    response = api_client.get(
        HEALTH_URL, {"stripe": "false"}, HTTP_AUTHORIZATION="Token no-such-token"
    )

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_health_bearer_token_shows_the_details(api_client, settings):
    settings.HEALTH_BEARER_TOKEN = "probe-secret"

    right = api_client.get(
        HEALTH_URL, {"stripe": "false"}, HTTP_AUTHORIZATION="Bearer probe-secret"
    )
    wrong = api_client.get(HEALTH_URL, {"stripe": "false"}, HTTP_AUTHORIZATION="Bearer probe")
    settings.HEALTH_BEARER_TOKEN = ""
    unset = api_client.get(HEALTH_URL, {"stripe": "false"}, HTTP_AUTHORIZATION="Bearer ")

    assert set(right.json()["checks"]) == {"database", "cache", "webhooks", "schedules"}
    assert wrong.json() == {"status": "ok"}
    assert unset.json() == {"status": "ok"}


def test_metrics_are_not_found_when_disabled(api_client, settings):
    settings.METRICS_ENABLED = False

    response = api_client.get(METRICS_URL)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _samples(response) -> dict[tuple[str, tuple], float]:
    text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_report_the_webhook_events_and_purchases_in_the_database(api_client, settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_BEARER_TOKEN = ""
    for status in ("PROCESSED", "PROCESSED", "FAILED", "IGNORED"):
        WebhookEventLogFactory(status=status, processing_duration_ms=20.0)
    completed = PurchaseTransactionFactory()
    purchase_pay(completed)
    PurchaseTransactionFactory.create_batch(2)
    PurchaseTransactionFactory(status=PurchaseTransaction.Status.FAILED, needs_review=True)

    response = api_client.get(METRICS_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response)
    events = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "aprende_webhook_events"
    }
    assert events == {"PROCESSED": 2, "FAILED": 1, "IGNORED": 1}
    purchases = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "aprende_purchases"
    }
    assert purchases == {"COMPLETED": 1, "PENDING": 2, "FAILED": 1}
    assert samples[("aprende_purchases_needing_review", ())] == 1
    assert samples[("aprende_webhook_success_ratio", ())] == 0.75
    assert samples[("aprende_webhook_processing_seconds", (("quantile", "0.5"),))] == 0.02
    assert (
        samples[
            (
                "aprende_webhook_events_last_24h",
                (("event_type", "payment_intent.succeeded"), ("status", "PROCESSED")),
            )
        ]
        == 2
    )

    WebhookEventLogFactory(status="PROCESSED")
    again = _samples(api_client.get(METRICS_URL))

    assert again[("aprende_webhook_events", (("status", "PROCESSED"),))] == 3


def test_metrics_need_the_bearer_token_when_one_is_set(api_client, settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_BEARER_TOKEN = "scrape-secret"
    WebhookEventLogFactory(status="PROCESSED")

    missing = api_client.get(METRICS_URL)
    wrong = api_client.get(METRICS_URL, HTTP_AUTHORIZATION="Bearer not-the-secret")
    right = api_client.get(METRICS_URL, HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert (missing.status_code, wrong.status_code) == (404, 404)
    assert missing.json()["error"]["code"] == "not_found"
    assert b"aprende_webhook_events" not in missing.content + wrong.content
    assert right.status_code == 200
    assert _samples(right)[("aprende_webhook_events", (("status", "PROCESSED"),))] == 1
