"""Every Stripe request asks for the pinned API version (STRIPE_API_VERSION)."""

import contextlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe
from django.conf import settings as django_settings

from core.errors import ApplicationError
from finances import stripe_gateway
from finances.stripe_payloads import MalformedStripeObject
from tests.support.purchase_initiation_helpers import fake_stripe_running
from tests.support.recording_proxy import RecordingProxy

pytestmark = pytest.mark.django_db

EVERY_CALL = {
    "payment_intent_create": lambda: stripe_gateway.payment_intent_create(
        amount_cents=100, currency="EUR", metadata={}, idempotency_key="k-create"
    ),
    "payment_intent_retrieve": lambda: stripe_gateway.payment_intent_retrieve(
        payment_intent_id="pi_1"
    ),
    "refund_create": lambda: stripe_gateway.refund_create(
        payment_intent_id="pi_1", amount_cents=100, idempotency_key="k-refund"
    ),
    "refunded_amount_for_payment_intent": lambda: stripe_gateway.refunded_amount_for_payment_intent(
        payment_intent_id="pi_1"
    ),
    "events_list": lambda: stripe_gateway.events_list(created_after=0),
    "account_check": lambda: stripe_gateway.account_check(),
    "payment_intent_cancel": lambda: stripe_gateway.payment_intent_cancel(
        payment_intent_id="pi_1", idempotency_key="k-cancel"
    ),
    "payment_intents_find_by_metadata": lambda: stripe_gateway.payment_intents_find_by_metadata(
        key="transaction_id", value="tx", created_around=datetime.now(UTC)
    ),
    "webhook_endpoint_upsert": lambda: stripe_gateway.webhook_endpoint_upsert(
        url="https://x.example/hook", enabled_events=["charge.refunded"], api_version="2024-06-20"
    ),
}


def _settings_read_afresh(monkeypatch, *, api_version: str | None):
    """config/settings.py executed again with this STRIPE_API_VERSION in the environment."""
    if api_version is None:
        monkeypatch.delenv("STRIPE_API_VERSION", raising=False)
    else:
        monkeypatch.setenv("STRIPE_API_VERSION", api_version)
    monkeypatch.setenv("DJANGO_READ_DOT_ENV", "false")
    path = Path(django_settings.BASE_DIR) / "config" / "settings.py"
    spec = importlib.util.spec_from_file_location("settings_read_afresh", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_api_version_is_the_one_the_pinned_sdk_was_generated_for(monkeypatch):
    fresh = _settings_read_afresh(monkeypatch, api_version=None)

    assert fresh.STRIPE_API_VERSION == stripe._api_version._ApiVersion.CURRENT
    assert stripe_gateway.SDK_API_VERSION == stripe._api_version._ApiVersion.CURRENT


def test_the_environment_chooses_another_api_version(monkeypatch):
    fresh = _settings_read_afresh(monkeypatch, api_version="2024-06-20")

    assert fresh.STRIPE_API_VERSION == "2024-06-20"


@pytest.mark.parametrize("call", EVERY_CALL.values(), ids=EVERY_CALL.keys())
def test_every_gateway_call_sends_the_configured_stripe_version(settings, call):
    settings.STRIPE_API_VERSION = "2025-03-31.basil"
    with fake_stripe_running(settings) as server:
        server.respond(200, {"object": "list", "data": [], "has_more": False})
        if call is EVERY_CALL["refund_create"]:
            server.respond(200, {"id": "re_1", "object": "refund", "amount": 100, "status": "ok"})
        with contextlib.suppress(ApplicationError, MalformedStripeObject):
            call()

    assert server.requests, "the call reached no Stripe"
    assert {request.headers.get("Stripe-Version") for request in server.requests} == {
        "2025-03-31.basil"
    }


def test_localstripe_sees_the_pinned_version_on_every_request(localstripe, settings):
    with RecordingProxy(upstream=localstripe.api_base) as proxy:
        settings.STRIPE_API_BASE = proxy.api_base
        intent = stripe_gateway.payment_intent_create(
            amount_cents=14000, currency="EUR", metadata={}, idempotency_key="k-version"
        )
        localstripe.pay(intent.id)  # the suite's own client, not through the proxy
        stripe_gateway.payment_intent_retrieve(payment_intent_id=intent.id)
        stripe_gateway.refunded_amount_for_payment_intent(payment_intent_id=intent.id)

    assert [(request.method, request.status) for request in proxy.seen] == [
        ("POST", 200),
        ("GET", 200),
        ("GET", 200),
    ]
    assert {request.headers["Stripe-Version"] for request in proxy.seen} == {
        settings.STRIPE_API_VERSION
    }


def test_the_client_logs_its_api_version_once_per_process(settings, caplog):
    settings.STRIPE_API_VERSION = "2025-03-31.basil"
    stripe_gateway._client_for.cache_clear()
    with fake_stripe_running(settings), caplog.at_level(logging.INFO, "finances"):
        for _ in range(3):
            with contextlib.suppress(ApplicationError):
                stripe_gateway.account_check()

    configured = [r for r in caplog.records if r.getMessage() == "stripe.client_configured"]
    assert len(configured) == 1
    assert (configured[0].api_version, configured[0].sdk_api_version) == (
        "2025-03-31.basil",
        stripe_gateway.SDK_API_VERSION,
    )


def test_the_web_server_logs_the_pinned_api_version_at_start_up():
    """gunicorn imports config.wsgi once per worker: that import names the version."""
    environment = {**os.environ, "DJANGO_READ_DOT_ENV": "false", "LOG_FORMAT": "json"}
    environment.pop("STRIPE_API_VERSION", None)
    started = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=str(django_settings.BASE_DIR),
        timeout=60,
        check=True,
    )

    lines = [json.loads(line) for line in started.stderr.splitlines() if line.startswith("{")]
    configured = [line for line in lines if line["message"] == "stripe.client_configured"]
    assert [line["api_version"] for line in configured] == [stripe_gateway.SDK_API_VERSION]
