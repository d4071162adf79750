"""The buyer's emails about a purchase: receipt, failed payment, refund.

Each is enqueued (notifications.services.notification_enqueue) in the transaction that
changes the purchase, so it exists exactly when the change commits, and once per event
and recipient (the notification's unique key). The recipient is whoever paid: the
guardian who bought for a student, else the student. Their language is the one stored on
their account (set when they buy or sign up; accounts.User.language).

Contexts hold ids and numbers only; links are made when the message is rendered (a
guest's claim link: notifications.services adds it from `claim_user_id`).
"""

from django.conf import settings

from accounts.models import User
from finances.models import PurchaseTransaction
from finances.units import minutes_to_hours
from notifications.models import Notification
from notifications.services import notification_enqueue

PURCHASE_COMPLETED = "purchase_completed"
PAYMENT_FAILED = "payment_failed"
PURCHASE_REFUNDED = "purchase_refunded"


def _hours(minutes: int) -> str:
    return f"{minutes_to_hours(minutes).normalize():f}"  # "10", "2.5"


def _payer(purchase: PurchaseTransaction) -> User:
    return purchase.purchased_by if purchase.purchased_by_id else purchase.student


def _base_context(purchase: PurchaseTransaction) -> dict:
    return {
        "purchase_transaction_id": str(purchase.pk),
        "plan_id": purchase.plan_id,
        "plan_name": purchase.plan_name,
        "plan_type": purchase.plan_type,
        "minutes": purchase.minutes,
        "hours": _hours(purchase.minutes),
        "amount_cents": purchase.amount_cents,
        "currency": purchase.currency,
    }


def _enqueue(
    *, kind: str, object_key: str, purchase: PurchaseTransaction, context: dict
) -> Notification | None:
    if not settings.BUYER_EMAILS_ENABLED:
        return None
    payer = _payer(purchase)
    return notification_enqueue(
        kind=kind,
        object_key=object_key,
        recipient=payer.email,
        context={**context, "recipient_name": payer.name},
        language=payer.language or None,
    )


def purchase_completed_notify(*, purchase: PurchaseTransaction) -> Notification | None:
    """The receipt: plan, hours, expiry, amount, transaction id, and for a guest the link
    that claims the account."""
    if not settings.BUYER_EMAILS_ENABLED:
        return None  # before reading the payer: nothing to send, nothing to read
    context = {
        **_base_context(purchase),
        "paid_at": purchase.paid_at.isoformat() if purchase.paid_at else None,
        "expires_at": purchase.expires_at.isoformat() if purchase.expires_at else None,
    }
    payer = _payer(purchase)
    if payer.is_guest:
        context["claim_user_id"] = payer.pk
    return _enqueue(
        kind=PURCHASE_COMPLETED,
        object_key=f"purchase:{purchase.pk}",
        purchase=purchase,
        context=context,
    )


def payment_failed_notify(*, purchase: PurchaseTransaction) -> Notification | None:
    """Once per purchase: the payment did not go through, nothing was charged, try again."""
    plan_slug = purchase.plan.slug if purchase.plan_id else ""
    return _enqueue(
        kind=PAYMENT_FAILED,
        object_key=f"purchase:{purchase.pk}",
        purchase=purchase,
        context={**_base_context(purchase), "plan_slug": plan_slug},
    )


def purchase_refunded_notify(
    *,
    purchase: PurchaseTransaction,
    refunded_total_cents: int,
    refunded_now_cents: int,
    minutes_taken_back: int,
) -> Notification | None:
    """Once per refunded total: how much came back and how many hours went with it."""
    return _enqueue(
        kind=PURCHASE_REFUNDED,
        object_key=f"purchase:{purchase.pk}:refunded:{refunded_total_cents}",
        purchase=purchase,
        context={
            **_base_context(purchase),
            "refunded_now_cents": refunded_now_cents,
            "refunded_total_cents": refunded_total_cents,
            "fully_refunded": refunded_total_cents >= purchase.amount_cents,
            "minutes_taken_back": minutes_taken_back,
            "hours_taken_back": _hours(minutes_taken_back),
        },
    )
