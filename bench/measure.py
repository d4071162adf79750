"""What is measured in-process: SQL statements per event, and initiation against
localstripe beside a bare SDK call to the same localstripe."""

import json
import statistics
import time
import uuid

import requests
import stripe
from django.conf import settings
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.fixtures import ceiling_rows_create, purchases_create, succeeded_event
from bench.round_trips import driver_round_trips
from finances.stripe_gateway import webhook_signature_header


def _post(client: Client, path: str, document: dict) -> tuple[int, int, int]:
    """(HTTP status, statements Django saw, round trips at the driver), the connection
    prepared as at the start of a production request (close_old_connections)."""
    body = json.dumps(document)
    signature = webhook_signature_header(payload=body, secret=settings.STRIPE_WEBHOOK_SECRETS[0])
    close_old_connections()
    with CaptureQueriesContext(connection) as queries, driver_round_trips(connection) as trips:
        response = client.post(
            path, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    return response.status_code, len(queries.captured_queries), trips.count


def _event(tag: str) -> dict:
    purchase = purchases_create(count=1, tag=f"{tag}{uuid.uuid4().hex[:6]}")[0]
    return succeeded_event(
        payment_intent_id=purchase.stripe_payment_intent_id, transaction_id=str(purchase.pk)
    )


def sql_statements_per_event() -> dict[str, int]:
    """Statements Django sees and round trips at the driver for a first delivery and a
    duplicate on a busy connection (one webhook just served), and for the ceilings."""
    client = Client()
    path = "/api/finances/webhooks/stripe/"
    _post(client, path, _event("warm"))
    document = _event("sql")
    first_status, first, first_trips = _post(client, path, document)
    duplicate_status, duplicate, duplicate_trips = _post(client, path, document)
    counts = {
        "first_delivery": first,
        "duplicate_delivery": duplicate,
        "first_delivery_round_trips": first_trips,
        "duplicate_delivery_round_trips": duplicate_trips,
    }
    for name, url in (("ceiling", "/bench/ceiling/"), ("raw", "/bench/raw/")):
        rows = ceiling_rows_create(count=1, tag=f"{name}{uuid.uuid4().hex[:6]}")[0]
        status, statements, trips = _post(
            client,
            url,
            succeeded_event(
                payment_intent_id=f"pi_{name}",
                transaction_id="-",
                extra_metadata={"bench_rows": rows},
            ),
        )
        assert status == 200
        counts[name], counts[f"{name}_round_trips"] = statements, trips
    assert (first_status, duplicate_status) == (200, 200)
    return counts


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
