"""The record step commits without waiting for its WAL flush, and only it: the processing
commit that precedes every 2xx waits for it (finances/services/webhook_recording.py)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from finances.models import PurchaseTransaction, WebhookEventLog
from finances.services import payments
from finances.services.webhook_recording import webhook_event_record
from finances.services.webhooks import event_envelope_read
from tests.factories import PurchaseTransactionFactory
from tests.support.stripe_events import post_event
from tests.support.webhook_pipeline_helpers import succeeded_event

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_the_delivery_record_relaxes_only_its_own_commit_and_processing_commits_durably(
    client, monkeypatch
):
    seen_while_processing = []
    real_signals_send = payments.purchase_completion_signals_send

    def signals_send_seeing_the_setting(**kwargs):
        seen_while_processing.append(_synchronous_commit())
        return real_signals_send(**kwargs)

    monkeypatch.setattr(
        payments, "purchase_completion_signals_send", signals_send_seeing_the_setting
    )
    purchase = PurchaseTransactionFactory()

    with CaptureQueriesContext(connection) as captured:
        response = post_event(client, succeeded_event(purchase))

    assert response.status_code == 200, response.content
    record = captured.captured_queries[0]["sql"]
    assert record.startswith("INSERT INTO finances_webhookeventlog")
    assert "set_config('synchronous_commit', 'off', true)" in record
    assert seen_while_processing == ["on"]  # the transaction whose commit precedes the 2xx
    assert _synchronous_commit() == "on"  # nothing leaked into the session
    log = WebhookEventLog.objects.get()
    assert (log.status, log.error_message) == (WebhookEventLog.Status.PROCESSED, "")
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED


def test_a_duplicate_is_answered_from_a_status_an_earlier_durable_commit_wrote(client):
    purchase = PurchaseTransactionFactory()
    document = succeeded_event(purchase)
    post_event(client, document)

    with CaptureQueriesContext(connection) as captured:
        response = post_event(client, document)

    assert response.json()["duplicate"] is True
    assert len(captured.captured_queries) == 1  # the relaxed record step, nothing after it
    assert WebhookEventLog.objects.get().delivery_count == 2
    assert _synchronous_commit() == "on"


def test_a_record_inside_a_callers_transaction_is_not_relaxed():
    document = succeeded_event(PurchaseTransactionFactory())
    envelope = event_envelope_read(document, fallback_id="x")

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        webhook_event_record(
            envelope=envelope, document=document, source=WebhookEventLog.Source.WEBHOOK
        )
        assert _synchronous_commit() == "on"

    assert not [q for q in captured.captured_queries if "set_config" in q["sql"]]
