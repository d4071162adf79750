"""Operator-initiated refunds: ask Stripe, then apply Stripe's answer like a webhook would."""

import logging

from accounts.models import User
from core.errors import ApplicationError
from finances import stripe_gateway
from finances.models import OperatorAction, PurchaseTransaction
from finances.services.operator_actions import (
    REFUND_PERMISSION,
    operator_action_details_update,
    operator_action_record,
    operator_permission_require,
)
from finances.services.reconciliation import PurchaseReconciliation, purchase_reconcile

logger = logging.getLogger(__name__)


def purchase_refund_at_stripe(
    *,
    purchase: PurchaseTransaction,
    amount_cents: int | None = None,
    actor: User | None,
    reason: str,
) -> PurchaseReconciliation:
    """Refunds `amount_cents` (default: all that is left) and applies it at once.

    `actor` needs `finances.refund_purchasetransaction` (checked before Stripe is asked) and
    must say why; the refund is recorded as an `OperatorAction`. The idempotency key names
    the purchase's refund state, so a double click (or a retry after a timeout) cannot
    refund twice. The `charge.refunded` webhook that follows finds the refund already
    applied and changes nothing.
    """
    operator_permission_require(actor=actor, permission=REFUND_PERMISSION)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why this purchase is refunded.", code="refund_reason_required")
    refundable = purchase.amount_cents - purchase.refunded_amount_cents
    amount = refundable if amount_cents is None else amount_cents
    if (
        purchase.status != PurchaseTransaction.Status.COMPLETED
        or not purchase.stripe_payment_intent_id
    ):
        raise ApplicationError("Only a completed purchase can be refunded.", code="not_refundable")
    if not 0 < amount <= refundable:
        raise ApplicationError(
            f"Between 1 and {refundable} cents can be refunded.", code="invalid_refund_amount"
        )
    # Recorded before Stripe is asked: a crash between the two still leaves who asked.
    audit = operator_action_record(
        actor=actor,
        action=OperatorAction.Action.REFUND,
        purchase=purchase,
        reason=reason,
        details={
            "amount_cents": amount,
            "refunded_before_cents": purchase.refunded_amount_cents,
            "outcome": "requested",
        },
    )
    try:
        refund = stripe_gateway.refund_create(
            payment_intent_id=purchase.stripe_payment_intent_id,
            amount_cents=amount,
            idempotency_key=f"refund:{purchase.pk}:{purchase.refunded_amount_cents}:{amount}",
        )
    except ApplicationError as error:
        operator_action_details_update(action=audit, outcome="failed", error_code=error.code)
        raise
    logger.info(
        "refund.requested",
        extra={"transaction_id": str(purchase.pk), "refund_id": refund.id, "amount_cents": amount},
    )
    result = purchase_reconcile(purchase=purchase)
    operator_action_details_update(
        action=audit,
        outcome="refunded" if result.error is None else "refunded_not_applied",
        refund_id=refund.id,
        **({"error": result.error} if result.error else {}),
    )
    return result
