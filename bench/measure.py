"""What is measured in-process: SQL statements per event, and initiation against
localstripe beside a bare SDK call to the same localstripe."""

import json
import statistics
import time
import uuid

import requests
import stripe
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.fixtures import ceiling_rows_create, purchases_create, succeeded_event
from finances.stripe_gateway import webhook_signature_header


def _post(client: Client, path: str, document: dict) -> tuple[int, int]:
    body = json.dumps(document)
    signature = webhook_signature_header(payload=body, secret=settings.STRIPE_WEBHOOK_SECRETS[0])
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            path, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    return response.status_code, len(queries.captured_queries)


def sql_statements_per_event() -> dict[str, int]:
    """Statements (BEGIN and COMMIT included) for a first delivery and a duplicate."""
    client = Client()
    purchase = purchases_create(count=1, tag=f"sql{uuid.uuid4().hex[:6]}")[0]
    document = succeeded_event(
        payment_intent_id=purchase.stripe_payment_intent_id, transaction_id=str(purchase.pk)
    )
    first_status, first = _post(client, "/api/finances/webhooks/stripe/", document)
    duplicate_status, duplicate = _post(client, "/api/finances/webhooks/stripe/", document)
    rows = ceiling_rows_create(count=1, tag=f"sql{uuid.uuid4().hex[:6]}")[0]
    ceiling_document = succeeded_event(
        payment_intent_id="pi_ceiling", transaction_id="-", extra_metadata={"bench_rows": rows}
    )
    ceiling_status, ceiling = _post(client, "/bench/ceiling/", ceiling_document)
    assert (first_status, duplicate_status, ceiling_status) == (200, 200, 200)
    return {"first_delivery": first, "duplicate_delivery": duplicate, "ceiling": ceiling}


def initiation_overhead(
    *, server_url: str, localstripe_api_base: str, iterations: int, plan_id: int
) -> dict:
    """Median wall time of POST /purchase/initiate/ (HTTP, the whole product path) and of
    a bare `PaymentIntent.create` with the SDK against the same localstripe, interleaved
    so that localstripe's slow-down as its store grows hits both alike."""
    bare_client = stripe.StripeClient(
        "sk_test_bench", base_addresses={"api": localstripe_api_base}, max_network_retries=0
    )
    session = requests.Session()
    bare, ours = [], []
    for index in range(iterations):
        started = time.perf_counter()
        bare_client.v1.payment_intents.create(
            params={
                "amount": 14000,
                "currency": "eur",
                "payment_method_types": ["card"],
                "metadata": {"application": "bench", "transaction_id": str(uuid.uuid4())},
            },
            options={"idempotency_key": str(uuid.uuid4())},
        )
        bare.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        response = session.post(
            f"{server_url}/api/finances/purchase/initiate/",
            json={
                "plan_id": plan_id,
                "student_info": {
                    "name": "Bench Buyer",
                    "email": f"buyer-{index}-{uuid.uuid4().hex[:6]}@example.com",
                },
            },
            timeout=30,
        )
        ours.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.text
    return {
        "iterations": iterations,
        "bare_sdk_median_ms": statistics.median(bare),
        "initiate_median_ms": statistics.median(ours),
        "overhead_median_ms": statistics.median(ours) - statistics.median(bare),
        "bare_sdk_p90_ms": statistics.quantiles(bare, n=10)[-1],
        "initiate_p90_ms": statistics.quantiles(ours, n=10)[-1],
    }
