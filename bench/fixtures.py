"""Pre-created purchases (and ceiling rows) and their signed `payment_intent.succeeded`
events, one fresh event per request so that every request takes the first-delivery path."""

import json
import time
import uuid
from pathlib import Path

from django.conf import settings

from accounts.models import User
from bench.models import BenchRow
from finances.models import PricingPlan, PurchaseTransaction, StudentAccountBalance
from finances.stripe_gateway import webhook_signature_header


def purchases_create(*, count: int, tag: str) -> list[PurchaseTransaction]:
    """`count` PENDING purchases of the 10-hour package, each for its own student (with
    its balance row, as a real sign-up creates), as initiation leaves them."""
    plan = PricingPlan.objects.get(slug="package-10h")
    users = User.objects.bulk_create(
        [
            User(
                email=f"bench-{tag}-{index}@example.com",
                name="Bench Student",
                is_guest=True,
                password="!",
            )
            for index in range(count)
        ],
        batch_size=2000,
    )
    StudentAccountBalance.objects.bulk_create(
        [StudentAccountBalance(student_id=user.pk) for user in users], batch_size=2000
    )
    return PurchaseTransaction.objects.bulk_create(
        [
            PurchaseTransaction(
                id=uuid.uuid4(),
                student_id=user.pk,
                stripe_payment_intent_id=f"pi_bench_{tag}_{index}",
                **PurchaseTransaction.plan_snapshot(plan),
            )
            for index, user in enumerate(users)
        ],
        batch_size=2000,
    )


def ceiling_rows_create(*, count: int, tag: str) -> list[str]:
    """For each ceiling request, the two pre-existing rows it updates ("purchase,balance")."""
    rows = BenchRow.objects.bulk_create(
        [BenchRow(key=f"{kind}-{tag}-{index}") for index in range(count) for kind in ("p", "b")],
        batch_size=4000,
    )
    return [f"{rows[2 * index].pk},{rows[2 * index + 1].pk}" for index in range(count)]


def succeeded_event(*, payment_intent_id: str, transaction_id: str, extra_metadata=None) -> dict:
    now = int(time.time())
    return {
        "id": f"evt_{payment_intent_id.removeprefix('pi_')}_{uuid.uuid4().hex[:8]}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "api_version": "2024-06-20",
        "created": now,
        "livemode": False,
        "data": {
            "object": {
                "id": payment_intent_id,
                "object": "payment_intent",
                "amount": 14000,
                "amount_received": 14000,
                "currency": "eur",
                "status": "succeeded",
                "livemode": False,
                "created": now,
                "customer": None,
                "latest_charge": f"ch_{uuid.uuid4().hex[:14]}",
                "last_payment_error": None,
                "client_secret": f"{payment_intent_id}_secret_bench",
                "metadata": {
                    "application": settings.STRIPE_METADATA_APPLICATION,
                    "transaction_id": transaction_id,
                    **(extra_metadata or {}),
                },
            }
        },
    }


def payload_file_write(*, path: Path, documents: list[dict], secret: str) -> None:
    """One `signature<TAB>body` line per event, signed now (valid for the tolerance)."""
    with path.open("w") as output:
        for document in documents:
            body = json.dumps(document, separators=(",", ":"))
            output.write(f"{webhook_signature_header(payload=body, secret=secret)}\t{body}\n")


def events_record_processed(*, documents: list[dict]) -> None:
    """The events as a first delivery leaves them (PROCESSED), so that replaying them
    measures the duplicate path."""
    from django.utils import timezone

    from finances.models import WebhookEventLog

    now = timezone.now()
    WebhookEventLog.objects.bulk_create(
        [
            WebhookEventLog(
                stripe_event_id=document["id"],
                event_type=document["type"],
                api_version=document["api_version"],
                stripe_object_id=document["data"]["object"]["id"],
                payload=document,
                source=WebhookEventLog.Source.WEBHOOK,
                status=WebhookEventLog.Status.PROCESSED,
                received_at=now,
                processed_at=now,
            )
            for document in documents
        ],
        batch_size=2000,
    )
