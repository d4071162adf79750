"""The ceiling: what this hardware allows for a webhook that verifies the signature and
commits the same rows as our `payment_intent.succeeded`, with the ORM and no business logic.

Ours writes five rows: the event row (committed first, on its own), then in one
transaction the purchase (update), the ledger entry (insert), the balance (update) and
the event row again (update). The ceiling does the same five writes on a plain table.
Beside it, two limits: the raw-SQL ceiling (the same rows in one statement, the event row
written once in its final state) and the no-database view (signature and JSON only).
"""

import json

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.models import BenchRow
from finances.errors import WebhookSignatureInvalid
from finances.stripe_gateway import webhook_payload_verify


@csrf_exempt
@require_POST
def ceiling_webhook(request):
    body = request.body
    try:
        webhook_payload_verify(
            payload=body,
            signature_header=request.META.get("HTTP_STRIPE_SIGNATURE"),
            secrets=settings.STRIPE_WEBHOOK_SECRETS,
            tolerance_seconds=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
    except WebhookSignatureInvalid:
        return JsonResponse({"error": {"code": "invalid_signature"}}, status=400)
    document = json.loads(body)
    purchase_row, balance_row = document["data"]["object"]["metadata"]["bench_rows"].split(",")
    event_row = BenchRow.objects.create(key=document["id"], payload=document)
    with transaction.atomic():
        BenchRow.objects.filter(pk=purchase_row).update(counter=F("counter") + 1)
        BenchRow.objects.create(key=f"{document['id']}:entry")
        BenchRow.objects.filter(pk=balance_row).update(counter=F("counter") + 1)
        BenchRow.objects.filter(pk=event_row.pk).update(counter=1)
    return JsonResponse({"received": True, "event_id": document["id"]})


# The raw-SQL ceiling: the same five row writes in one statement (data-modifying CTEs),
# one round trip and one commit, no ORM.
RAW_WRITES = """
WITH event AS (
    INSERT INTO bench_benchrow (key, payload, counter) VALUES (%s, %s::jsonb, 0)
    RETURNING id
), purchase AS (
    UPDATE bench_benchrow SET counter = counter + 1 WHERE id = %s RETURNING id
), entry AS (
    INSERT INTO bench_benchrow (key, payload, counter) VALUES (%s, '{}'::jsonb, 0)
    RETURNING id
), balance AS (
    UPDATE bench_benchrow SET counter = counter + 1 WHERE id = %s RETURNING id
)
SELECT (SELECT id FROM event), (SELECT id FROM purchase), (SELECT id FROM entry),
       (SELECT id FROM balance)
"""


def _verified_document(request):
    body = request.body
    webhook_payload_verify(
        payload=body,
        signature_header=request.META.get("HTTP_STRIPE_SIGNATURE"),
        secrets=settings.STRIPE_WEBHOOK_SECRETS,
        tolerance_seconds=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )
    return body, json.loads(body)


@csrf_exempt
@require_POST
def raw_ceiling_webhook(request):
    """The limit of the database path: signature, JSON, then the rows in one statement."""
    try:
        body, document = _verified_document(request)
    except WebhookSignatureInvalid:
        return JsonResponse({"error": {"code": "invalid_signature"}}, status=400)
    purchase_row, balance_row = document["data"]["object"]["metadata"]["bench_rows"].split(",")
    with connection.cursor() as cursor:
        cursor.execute(
            RAW_WRITES,
            [document["id"], body.decode(), purchase_row, f"{document['id']}:entry", balance_row],
        )
        cursor.fetchone()
    return JsonResponse({"received": True, "event_id": document["id"]})


@csrf_exempt
@require_POST
def no_database_webhook(request):
    """The limit of the web stack: signature and JSON, no database at all."""
    try:
        _, document = _verified_document(request)
    except WebhookSignatureInvalid:
        return JsonResponse({"error": {"code": "invalid_signature"}}, status=400)
    return JsonResponse({"received": True, "event_id": document["id"]})
