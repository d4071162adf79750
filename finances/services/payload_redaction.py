"""Redacting the secrets of webhook payloads stored before redaction at recording existed.

New events are redacted when recorded (`webhook_event_record`). This pass rewrites the
older rows once; it only replaces secret values, so running it again changes nothing.
"""

from dataclasses import dataclass

from django.db import transaction

from finances.models import WebhookEventLog
from finances.stripe_redaction import stripe_document_has_secret, stripe_document_redact


@dataclass(frozen=True)
class PayloadRedactionRun:
    rows_checked: int
    rows_redacted: int
    dry_run: bool


def webhook_payloads_redact(*, batch_size: int = 500, dry_run: bool = False) -> PayloadRedactionRun:
    """Rewrites every stored payload that still holds a secret; one short transaction
    per batch, reading by primary key so a large table is never locked at once."""
    checked = redacted = 0
    last_id = 0
    while True:
        batch = list(
            WebhookEventLog.objects.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "payload")[:batch_size]
        )
        if not batch:
            break
        last_id = batch[-1][0]
        checked += len(batch)
        dirty = [(pk, payload) for pk, payload in batch if stripe_document_has_secret(payload)]
        redacted += len(dirty)
        if dirty and not dry_run:
            with transaction.atomic(durable=True):
                for pk, payload in dirty:
                    WebhookEventLog.objects.filter(pk=pk).update(
                        payload=stripe_document_redact(payload)
                    )
    return PayloadRedactionRun(rows_checked=checked, rows_redacted=redacted, dry_run=dry_run)
