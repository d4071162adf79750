"""`manage.py stripe_webhook_endpoint --url URL`: exactly our events, the pinned API version.

Real Stripe's endpoint API is played by a small stateful HTTP stand-in (localstripe has
none); against localstripe the command registers the URL there, and a payment proves it.
"""

import json
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from devtools import localstripe as localstripe_control
from finances import stripe_gateway
from finances.webhooks.events import WEBHOOK_ENDPOINT_EVENTS
from tests.support.fake_stripe import FakeStripeServer
from tests.support.fake_webhook_endpoints import FakeWebhookEndpoints
from tests.support.operations_helpers import run_manage

pytestmark = pytest.mark.django_db
URL = "https://aprende.example/api/finances/webhooks/stripe/"


def _run(*arguments: str) -> str:
    out = StringIO()
    call_command("stripe_webhook_endpoint", *arguments, stdout=out)
    return out.getvalue()


@pytest.fixture
def stripe_endpoints(settings):
    settings.STRIPE_SEND_OPTIONAL_PARAMETERS = True  # the full Stripe API
    with FakeWebhookEndpoints() as fake:
        settings.STRIPE_API_BASE = fake.api_base
        yield fake


def test_it_creates_the_endpoint_with_our_events_and_version_and_shows_the_secret_once(
    stripe_endpoints, settings
):
    output = _run("--url", URL)

    (endpoint,) = stripe_endpoints.endpoints.values()
    assert endpoint["url"] == URL
    assert endpoint["enabled_events"] == list(WEBHOOK_ENDPOINT_EVENTS)
    assert endpoint["api_version"] == settings.STRIPE_API_VERSION
    lines = output.splitlines()
    assert lines[0] == (
        f"Created webhook endpoint {endpoint['id']} for {URL} "
        f"(API version {settings.STRIPE_API_VERSION}, {len(WEBHOOK_ENDPOINT_EVENTS)} events)."
    )
    assert lines[1] == (
        f"Signing secret (shown only now; put it in STRIPE_WEBHOOK_SECRET): {endpoint['secret']}"
    )
    assert [line.strip() for line in lines[2:]] == list(WEBHOOK_ENDPOINT_EVENTS)


def test_running_it_again_changes_nothing_and_prints_no_secret(stripe_endpoints):
    _run("--url", URL)
    requests_before = len(stripe_endpoints.requests)

    output = _run("--url", URL)

    assert len(stripe_endpoints.endpoints) == 1
    assert [method for method, _, _ in stripe_endpoints.requests[requests_before:]] == ["GET"]
    assert output.splitlines()[0].endswith(
        f"already has exactly these {len(WEBHOOK_ENDPOINT_EVENTS)} events."
    )
    assert "whsec_" not in output


def test_an_existing_endpoint_gets_exactly_our_events(stripe_endpoints, settings):
    endpoint_id = stripe_endpoints.add_existing(
        url=URL,
        events=["payment_intent.succeeded", "customer.created"],
        api_version=settings.STRIPE_API_VERSION,
    )
    stripe_endpoints.add_existing(
        url="https://other.example/hook", events=["*"], api_version="2020-08-27"
    )

    output = _run("--url", URL)

    assert output.splitlines()[0] == (
        f"Updated webhook endpoint {endpoint_id}: now {len(WEBHOOK_ENDPOINT_EVENTS)} events."
    )
    assert stripe_endpoints.endpoints[endpoint_id]["enabled_events"] == list(
        WEBHOOK_ENDPOINT_EVENTS
    )
    assert stripe_endpoints.endpoints["we_existing_2"]["enabled_events"] == ["*"]
    assert "whsec_" not in output


def test_an_endpoint_in_another_api_version_is_reported_and_fails(stripe_endpoints, settings):
    stripe_endpoints.add_existing(url=URL, events=[], api_version="2020-08-27")

    with pytest.raises(CommandError) as raised:
        _run("--url", URL)

    assert str(raised.value).startswith(
        f"The endpoint's API version is 2020-08-27 but STRIPE_API_VERSION is "
        f"{settings.STRIPE_API_VERSION}; Stripe cannot change it"
    )


def test_without_a_url_it_refuses(stripe_endpoints):
    with pytest.raises(CommandError, match="Give the endpoint's public URL"):
        _run()

    assert stripe_endpoints.requests == []


def test_a_url_that_is_not_http_is_refused(stripe_endpoints):
    with pytest.raises(CommandError, match="is not an http"):
        _run("--url", "ftp://aprende.example/hook")


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_without_a_url_it_exits_non_zero_with_a_message(capsys):
    result = run_manage(capsys, "stripe_webhook_endpoint")

    assert result.exit_code != 0
    assert "Give the endpoint's public URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_against_localstripe_the_url_is_registered_and_receives_signed_events(
    localstripe, settings
):
    receiver = FakeStripeServer().start()
    url = f"{receiver.api_base}/api/finances/webhooks/stripe/"
    try:
        output = _run("--url", url)
        again = _run("--url", url)
        intent = stripe_gateway.payment_intent_create(
            amount_cents=14000, currency="EUR", metadata={}, idempotency_key="k-endpoint"
        )
        localstripe.pay(intent.id)
        deadline = time.monotonic() + 15
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.stop()
        localstripe_control.register_webhook(
            api_base=localstripe.api_base, url="http://127.0.0.1:9/", secret="whsec_off", events=[]
        )

    assert output == again
    assert output.startswith(
        f"localstripe at {localstripe.api_base} has no webhook endpoint API: registered {url}"
    )
    delivered = [request for request in receiver.requests if request.method == "POST"]
    assert delivered, "localstripe sent nothing to the registered URL"
    body = delivered[0].body
    assert json.loads(body)["type"] == "payment_intent.succeeded"
    stripe_gateway.webhook_payload_verify(
        payload=body.encode(),
        signature_header=delivered[0].headers["Stripe-Signature"],
        secrets=settings.STRIPE_WEBHOOK_SECRETS,
        tolerance_seconds=300,
    )


def test_an_unreachable_stripe_is_a_clear_error(settings):
    settings.STRIPE_SEND_OPTIONAL_PARAMETERS = True  # Stripe: the suite's refusing port

    with pytest.raises(CommandError, match="The payment provider is unavailable"):
        _run("--url", URL)
