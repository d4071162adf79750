"""The ceiling: what this hardware allows for a webhook that verifies the signature and
commits the same rows as our `payment_intent.succeeded`, with the ORM and no business logic.

Ours writes five rows: the event row (committed first, on its own), then in one
transaction the purchase (update), the ledger entry (insert), the balance (update) and
the event row again (update). The ceiling does the same five writes on a plain table.
"""

import json

from django.conf import settings
from django.db import transaction
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
