"""A guardian's payment completes: its purchase request is closed as PAID in the webhook's
transaction (called by `confirm_payment_completion`, after the credit)."""

import logging

from django.utils import timezone

from finances.locks import purchase_request_lock
from finances.models import PurchaseRequest, PurchaseRequestEvent, PurchaseTransaction
from finances.services.family_notifications import purchase_request_paid_notify

logger = logging.getLogger(__name__)


def purchase_request_close_paid(*, purchase: PurchaseTransaction, source_event_id: str) -> None:
    """PAID, recorded with the payer, and both told. The money was taken, so a request
    closed meanwhile (cancelled, declined, expired while the guardian paid) becomes PAID
    too, with what it was in the event."""
    if purchase.purchase_request_id is None:
        return
    request = purchase_request_lock(request_id=purchase.purchase_request_id)
    if request is None or request.status == PurchaseRequest.Status.PAID:
        return
    previous = request.status
    now = timezone.now()
    request.status = PurchaseRequest.Status.PAID
    request.closed_at = now
    request.save(update_fields=["status", "closed_at", "updated_at"])
    detail = {"stripe_event_id": source_event_id} if source_event_id else {}
    if previous != PurchaseRequest.Status.PENDING:
        detail["paid_after"] = previous
    PurchaseRequestEvent.objects.create(
        request=request,
        kind=PurchaseRequestEvent.Kind.PAID,
        from_status=previous,
        to_status=request.status,
        actor_id=purchase.purchased_by_id,
        purchase_transaction=purchase,
        detail=detail,
        created_at=now,
    )
    purchase_request_paid_notify(purchase_request=request)
    logger.info(
        "family.request_paid",
        extra={"purchase_request_id": str(request.pk), "transaction_id": str(purchase.pk)},
    )
