"""No secret in stored webhook payloads or their admin page (issue 9, finding 9).

A PaymentIntent's client secret is a guest's only credential for its purchase; the
webhook pipeline must process the event as sent but store and show it redacted.
"""

import copy
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.webhook_retries import webhook_events_retry
from finances.stripe_redaction import (
    REDACTED,
    stripe_document_has_secret,
    stripe_document_redact,
)
from tests.factories import PurchaseTransactionFactory, StaffUserFactory, WebhookEventLogFactory
from tests.support.stripe_events import post_event
from tests.support.webhook_pipeline_helpers import succeeded_event
from tests.support.webhook_retry_helpers import failed_event, purchase_not_saved_yet

pytestmark = pytest.mark.django_db


def secret_laden_event(purchase) -> tuple[dict, list[str]]:
    """A success event whose object carries its client secret, plus other secrets nested
    where Stripe puts them (previous attributes, an expanded object in a list)."""
    document = succeeded_event(purchase)
    intent = document["data"]["object"]
    secrets = [intent["client_secret"], "seti_1X_secret_nested", "whsec_endpoint_secret_abc"]
    document["data"]["previous_attributes"] = {"client_secret": secrets[1]}
    intent["metadata"]["note"] = "not a secret"
    intent["related"] = [{"object": "webhook_endpoint", "secret": secrets[2]}]
    return document, secrets


def assert_no_secret(text: str, secrets: list[str]) -> None:
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, leaked


def test_a_succeeded_event_is_processed_but_stored_without_its_client_secret():
    purchase = PurchaseTransactionFactory()
    document, secrets = secret_laden_event(purchase)

    response = post_event(Client(), document)

    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED
    stored = WebhookEventLog.objects.get(stripe_event_id=document["id"]).payload
    assert_no_secret(json.dumps(stored), secrets)
    assert stored["data"]["object"]["client_secret"] == REDACTED
    assert stored["data"]["previous_attributes"]["client_secret"] == REDACTED
    assert stored["data"]["object"]["related"][0]["secret"] == REDACTED
    # Everything else is kept for the audit trail.
    assert stored["data"]["object"]["metadata"] == document["data"]["object"]["metadata"]
    assert stored["data"]["object"]["amount"] == purchase.amount_cents


def test_the_admin_page_of_a_recorded_event_shows_no_client_secret():
    purchase = PurchaseTransactionFactory()
    document, secrets = secret_laden_event(purchase)
    post_event(Client(), document)
    event_log = WebhookEventLog.objects.get(stripe_event_id=document["id"])
    staff = Client()
    staff.force_login(StaffUserFactory(is_superuser=True))

    page = staff.get(reverse("admin:finances_webhookeventlog_change", args=[event_log.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert document["id"] in html
    assert REDACTED in html
    assert_no_secret(html, secrets)


def test_the_admin_page_of_a_row_stored_before_redaction_shows_no_client_secret():
    secret = "pi_legacy_secret_0123456789"
    event_log = WebhookEventLogFactory(
        payload={"id": "evt_legacy", "data": {"object": {"client_secret": secret}}}
    )
    staff = Client()
    staff.force_login(StaffUserFactory(is_superuser=True))

    page = staff.get(reverse("admin:finances_webhookeventlog_change", args=[event_log.pk]))

    assert page.status_code == 200
    assert secret not in page.content.decode()


def test_a_retry_processes_the_redacted_stored_payload():
    # Retries re-read the stored payload: nothing processing needs may be redacted.
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    assert event_log.payload["data"]["object"]["client_secret"] == REDACTED
    purchase.save()

    run = webhook_events_retry(event_ids=[event_log.stripe_event_id])

    assert [receipt.status for receipt in run.receipts] == [WebhookEventLog.Status.PROCESSED]
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED
    assert HoursLedgerEntry.objects.filter(purchase_transaction=purchase).count() == 1


def test_redact_stored_payloads_rewrites_older_rows_once(capsys):
    legacy = WebhookEventLogFactory(
        payload={
            "id": "evt_old",
            "data": {"object": {"client_secret": "pi_old_secret_1", "amount": 100}},
        }
    )
    clean = WebhookEventLogFactory()
    clean_payload = copy.deepcopy(clean.payload)

    call_command("redact_stored_payloads", "--dry-run")
    legacy.refresh_from_db()
    assert legacy.payload["data"]["object"]["client_secret"] == "pi_old_secret_1"
    assert "2 payloads checked, 1 would be redacted" in capsys.readouterr().out

    call_command("redact_stored_payloads", "--batch-size", "1")
    legacy.refresh_from_db()
    clean.refresh_from_db()
    assert legacy.payload == {
        "id": "evt_old",
        "data": {"object": {"client_secret": REDACTED, "amount": 100}},
    }
    assert clean.payload == clean_payload
    assert "1 redacted" in capsys.readouterr().out

    call_command("redact_stored_payloads")
    assert "0 redacted" in capsys.readouterr().out


def test_redaction_copies_and_leaves_the_document_processing_reads_untouched():
    document = {"a": [{"client_secret": "x"}, {"secret": "y", "b": 1}], "client_secret": None}
    original = copy.deepcopy(document)

    redacted = stripe_document_redact(document)

    assert document == original
    assert redacted == {
        "a": [{"client_secret": REDACTED}, {"secret": REDACTED, "b": 1}],
        "client_secret": None,
    }


def test_redaction_walks_documents_nested_deeper_than_the_recursion_limit():
    document: dict = {"client_secret": "top"}
    node = document
    for _ in range(20_000):
        node["child"] = {}
        node = node["child"]
    node["client_secret"] = "deepest"

    redacted = stripe_document_redact(document)

    node = redacted
    while "child" in node:
        assert node.get("client_secret", REDACTED) == REDACTED
        node = node["child"]
    assert node == {"client_secret": REDACTED}
    assert stripe_document_has_secret(document)
    assert not stripe_document_has_secret(redacted)
