"""What every payment service shares: outcomes, finding the purchase a Stripe object
names (under its row lock), flagging it for review, logging its transitions."""

import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from core.errors import ApplicationError
from finances.locks import purchase_transaction_lock
from finances.models import PurchaseTransaction

logger = logging.getLogger("finances.services.payments")


class OutcomeKind(StrEnum):
    APPLIED = "APPLIED"
    NO_CHANGE = "NO_CHANGE"
    FLAGGED = "FLAGGED"
    NOT_OURS = "NOT_OURS"


@dataclass(frozen=True)
class PaymentOutcome:
    kind: OutcomeKind
    message: str
    transaction_id: object = None
    # Set when the service finished the webhook's event row in its own statement
    # (True) or found it finished (False); None: the pipeline finishes it.
    event_finished: bool | None = None
    # (from, to) when the service left the status change for the webhook's log line.
    transition: tuple[str, str] | None = None


class PurchaseNotFound(ApplicationError):
    """Our PaymentIntent, but no purchase here: retrying later may find it."""

    default_code = "purchase_not_found"
    default_message = "No purchase matches this PaymentIntent."
    default_status_code = 500


def is_our_payment_intent(metadata: dict[str, str]) -> bool:
    return metadata.get("application") == settings.STRIPE_METADATA_APPLICATION


def _metadata_transaction_id(metadata: dict[str, str]) -> uuid.UUID | None:
    try:
        return uuid.UUID(metadata.get("transaction_id", ""))
    except ValueError:
        return None


def purchase_locate(
    *, payment_intent_id: str | None, metadata: dict[str, str]
) -> tuple[PurchaseTransaction | None, str | None]:
    """(the locked purchase, a conflict to flag) for a PaymentIntent Stripe reports on."""
    ours = is_our_payment_intent(metadata)
    found = purchase_transaction_lock(
        payment_intent_id=payment_intent_id,
        transaction_id=_metadata_transaction_id(metadata) if ours else None,
    )
    if found is None and ours:
        raise PurchaseNotFound(
            f"PaymentIntent {payment_intent_id} carries our tag but no purchase matches it."
        )
    if found is None or not payment_intent_id:
        return found, None
    if found.stripe_payment_intent_id is None:
        # The PaymentIntent id was never stored (the initiating request died after the
        # Stripe call): adopt it now.
        found.stripe_payment_intent_id = payment_intent_id
        found.save(update_fields=["stripe_payment_intent_id", "updated_at"])
    elif found.stripe_payment_intent_id != payment_intent_id:
        return found, (
            f"PaymentIntent {payment_intent_id} names this purchase, which belongs to "
            f"{found.stripe_payment_intent_id}; nothing applied."
        )
    return found, None


def purchase_flag(purchase: PurchaseTransaction, reason: str) -> PaymentOutcome:
    if reason not in purchase.review_reason.splitlines():
        purchase.needs_review = True
        purchase.review_reason = f"{purchase.review_reason}\n{reason}".strip()
        purchase.save(update_fields=["needs_review", "review_reason", "updated_at"])
    logger.warning(
        "payment.flagged_for_review",
        extra={"transaction_id": str(purchase.pk), "reason": reason},
    )
    return PaymentOutcome(OutcomeKind.FLAGGED, reason, purchase.pk)


def purchase_transition_log(
    purchase: PurchaseTransaction, previous: str, source_event_id: str
) -> None:
    logger.info(
        "payment.status_changed",
        extra={
            "transaction_id": str(purchase.pk),
            "payment_intent_id": purchase.stripe_payment_intent_id,
            "from_status": previous,
            "to_status": purchase.status,
            "event_id": source_event_id or None,
        },
    )
