"""The signed outgoing webhook to the platform: enqueued with the change, delivered by the
worker, retried with backoff."""

import contextlib
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule, Success
from django_q.scheduler import scheduler

from finances.services.platform_webhooks import DELIVER_JOB, SIGNATURE_HEADER
from finances.services.schedules import schedules_sync
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, UserFactory
from tests.support.jobs import jobs_run_queued
from tests.support.payments import purchase_pay

SECRET = "platform-test-secret"


class Rollback(Exception):
    pass


class _Platform:
    """A local HTTP server playing the platform: answers `status` and keeps each request."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.status = 200
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                platform.received.append((dict(self.headers), body))
                self.send_response(platform.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/payments"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def platform(settings):
    server = _Platform()
    settings.PLATFORM_WEBHOOK_URL = server.url
    settings.PLATFORM_WEBHOOK_SECRET = SECRET
    settings.PLATFORM_WEBHOOK_RETRY_BACKOFF_SECONDS = 60
    yield server
    server.server.shutdown()


def _pay():
    purchase = PurchaseTransactionFactory(
        student=UserFactory(), plan=PricingPlanFactory(minutes=600, price_cents=14000)
    )
    purchase_pay(purchase)
    return purchase


def _signature_is_valid(headers: dict, body: bytes) -> bool:
    items = dict(item.split("=", 1) for item in headers[SIGNATURE_HEADER].split(","))
    expected = hmac.new(SECRET.encode(), f"{items['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(items["v1"], expected.hexdigest())


@pytest.mark.django_db(transaction=True)
def test_a_completed_purchase_is_delivered_signed_to_the_platform(platform):
    with transaction.atomic():
        purchase = _pay()

    jobs_run_queued()

    events = [json.loads(body) for _, body in platform.received]
    assert [event["type"] for event in events] == ["purchase.completed", "hours.credited"]
    assert events[0]["data"]["purchase_transaction_id"] == str(purchase.pk)
    assert events[0]["data"]["amount_cents"] == 14000
    assert all(_signature_is_valid(headers, body) for headers, body in platform.received)
    assert Success.objects.filter(func=DELIVER_JOB).count() == 2


@pytest.mark.django_db(transaction=True)
def test_nothing_is_delivered_for_a_rolled_back_change(platform):
    with contextlib.suppress(Rollback), transaction.atomic():
        _pay()
        raise Rollback

    assert OrmQ.objects.count() == 0
    assert jobs_run_queued() == 0
    assert platform.received == []


@pytest.mark.django_db(transaction=True)
def test_a_refused_delivery_fails_visibly_and_is_retried_later_with_the_same_event_id(platform):
    platform.status = 503
    with transaction.atomic():
        _pay()
    jobs_run_queued()

    assert Failure.objects.count() == 2
    assert "503" in Failure.objects.first().result
    retries = Schedule.objects.filter(schedule_type=Schedule.ONCE)
    assert retries.count() == 2
    next_run = retries.first().next_run
    backoff = next_run - timezone.now()
    assert timedelta(seconds=50) < backoff <= timedelta(seconds=60)
    schedules_sync()
    assert retries.count() == 2  # syncing the periodic schedules keeps them

    platform.status = 200
    retries.update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler()
    jobs_run_queued()

    ids = [json.loads(body)["id"] for _, body in platform.received]
    assert len(ids) == 4
    assert sorted(ids[:2]) == sorted(ids[2:])
    assert not Schedule.objects.filter(schedule_type=Schedule.ONCE).exists()


@pytest.mark.django_db
def test_without_a_url_nothing_is_enqueued(settings):
    settings.PLATFORM_WEBHOOK_URL = ""

    _pay()

    # The buyer's receipt is queued; no platform delivery is.
    assert [job.func() for job in OrmQ.objects.all()] == [
        "notifications.services.notification_send"
    ]
