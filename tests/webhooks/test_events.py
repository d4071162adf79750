"""One list of the endpoint's events, the handlers and the docs kept in step."""

import re
from pathlib import Path

from django.conf import settings

from finances.services.webhook_self_test import stripe_cli_instructions
from finances.webhooks.events import DISPUTE_AND_REFUND_UPDATE_EVENTS, WEBHOOK_ENDPOINT_EVENTS
from finances.webhooks.handlers import EVENT_HANDLERS

DOCS = Path(settings.BASE_DIR) / "docs" / "stripe-webhooks.md"


def _documented_events() -> list[str]:
    text = DOCS.read_text()
    section = re.search(
        r"<!-- webhook-endpoint-events:start -->\n(.*?)<!-- webhook-endpoint-events:end -->",
        text,
        re.DOTALL,
    )
    assert section, "docs/stripe-webhooks.md lost its event list markers"
    return re.findall(r"^- `([a-z_.]+)`", section.group(1), re.MULTILINE)


def test_every_handled_event_type_is_subscribed():
    assert set(EVENT_HANDLERS) <= set(WEBHOOK_ENDPOINT_EVENTS)


def test_the_endpoint_subscribes_to_the_handled_types_and_the_dispute_and_refund_updates():
    assert (
        tuple(sorted(set(EVENT_HANDLERS) | set(DISPUTE_AND_REFUND_UPDATE_EVENTS)))
        == WEBHOOK_ENDPOINT_EVENTS
    )
    assert len(set(WEBHOOK_ENDPOINT_EVENTS)) == len(WEBHOOK_ENDPOINT_EVENTS)


def test_the_docs_list_exactly_the_endpoint_events():
    assert _documented_events() == list(WEBHOOK_ENDPOINT_EVENTS)


def test_the_stripe_cli_instructions_name_every_endpoint_event():
    instructions = stripe_cli_instructions(base_url="https://aprende.example")

    for event_type in WEBHOOK_ENDPOINT_EVENTS:
        assert re.search(rf"(?<![\w.]){re.escape(event_type)}(?![\w.])", instructions), event_type
    assert (
        "manage.py stripe_webhook_endpoint --url "
        "https://aprende.example/api/finances/webhooks/stripe/"
    ) in instructions
