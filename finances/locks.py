"""Row locks, taken only through these helpers and always in this order:

    0. subscription (Stripe Billing): one, by its Stripe id or primary key
    1. purchase transaction(s): one, or several in primary-key order
    2. student balance
    3. (dispute rows and the webhook event row, by their UPDATE; never waited on first)

A use case may skip a step but never take an earlier one after a later one, so two use
cases can never wait for each other in a cycle:

- webhooks (payments, refunds, refund failures, disputes) and reconciliation: the one
  purchase the Stripe object names → its student's balance (a package's plain payment
  takes both in this order inside one statement: services/package_completion.py);
- lessons: the balance only. Their ledger INSERT checks the foreign key to the purchase
  with FOR KEY SHARE, which FOR NO KEY UPDATE does not block;
- lesson reversals: the purchases the lesson was drawn from (pk order) → the balance,
  because a reversal may settle a lot's refund or dispute shortfall (an UPDATE of the
  purchase row);
- expiry: the purchase → the balance;
- subscription invoices (grants, dunning), subscription events and subscription actions:
  the subscription → (the period's new purchase, inserted, not waited on) → its student's
  balance. A refund or dispute of a period's charge locks only that purchase → balance,
  never the subscription, so it cannot wait on a grant in a cycle.

Purchase and balance keys never change, so both are locked FOR NO KEY UPDATE: it
serializes every writer of the row yet lets other transactions insert ledger entries
that reference it (FOR KEY SHARE). A plain FOR UPDATE there deadlocked lessons against
refunds. Disputes are only ever written under their purchase's lock, so they need no lock
helper. Transactions that lock an event row on its own (retry claims, failure records)
hold no other lock and never wait (SKIP LOCKED) or finish at once. On SQLite
`select_for_update` is a no-op; there IMMEDIATE transactions serialize writers instead
(see settings).
"""

from django.db import connection
from django.db.models import Exists, OuterRef

from finances.models import (
    Dispute,
    PurchaseRequest,
    PurchaseTransaction,
    StudentAccountBalance,
    Subscription,
)


def _assert_in_transaction() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("Row locks are only meaningful inside a transaction.")


def purchase_transaction_lock(
    *, payment_intent_id: str | None = None, transaction_id=None
) -> PurchaseTransaction | None:
    """Locks the purchase with this PaymentIntent id, or else with this primary key.

    The same statement reads the plan as it is now (`purchase.plan`, not locked: OF self)
    and whether the purchase has disputes (`purchase.has_disputes`), which the payment's
    completion needs; no dispute can appear meanwhile, since disputes are only written
    under this lock. One round trip instead of three on every payment."""
    _assert_in_transaction()
    queryset = (
        PurchaseTransaction.objects.select_for_update(no_key=True, of=("self",))
        .select_related("plan")
        .annotate(has_disputes=Exists(Dispute.objects.filter(purchase=OuterRef("pk"))))
    )
    if payment_intent_id:
        found = queryset.filter(stripe_payment_intent_id=payment_intent_id).first()
        if found is not None or transaction_id is None:
            return found
    if transaction_id is None:
        return None
    return queryset.filter(pk=transaction_id).first()


def purchase_transactions_lock(*, transaction_ids) -> dict[object, PurchaseTransaction]:
    """Locks several purchases, in primary-key order (so two callers cannot cross)."""
    _assert_in_transaction()
    locked = (
        PurchaseTransaction.objects.select_for_update(no_key=True)
        .filter(pk__in=list(transaction_ids))
        .order_by("pk")
    )
    return {purchase.pk: purchase for purchase in locked}


def purchase_transaction_lock_by_charge(*, charge_id: str) -> PurchaseTransaction | None:
    """Locks the purchase paid by this Stripe charge (older disputes name only the charge)."""
    _assert_in_transaction()
    return (
        PurchaseTransaction.objects.select_for_update(no_key=True)
        .filter(stripe_charge_id=charge_id)
        .first()
    )


def student_balance_lock(*, student_id: int) -> StudentAccountBalance:
    """Locks the student's balance row, creating it on first need."""
    _assert_in_transaction()
    queryset = StudentAccountBalance.objects.select_for_update(no_key=True)
    balance = queryset.filter(student_id=student_id).first()
    if balance is None:
        StudentAccountBalance.objects.get_or_create(student_id=student_id)
        balance = queryset.get(student_id=student_id)
    return balance


def subscription_lock(
    *, stripe_subscription_id: str | None = None, subscription_id=None
) -> Subscription | None:
    """Locks the subscription with this Stripe id, or else with this primary key (step 0)."""
    _assert_in_transaction()
    queryset = Subscription.objects.select_for_update(no_key=True)
    if stripe_subscription_id:
        found = queryset.filter(stripe_subscription_id=stripe_subscription_id).first()
        if found is not None or subscription_id is None:
            return found
    if subscription_id is None:
        return None
    return queryset.filter(pk=subscription_id).first()


# --- families (docs/families.md) ---
def purchase_request_lock(*, request_id) -> PurchaseRequest | None:
    """Locks a student's purchase request. Order: after the purchase and the balance (the
    payment completion closes the request last); the request-only paths (ask, pay,
    decline, cancel, expire) hold no other lock while they wait for it."""
    _assert_in_transaction()
    return (
        PurchaseRequest.objects.select_for_update(no_key=True, of=("self",))
        .select_related("student", "guardian", "plan")
        .filter(pk=request_id)
        .first()
    )


# --- end families ---
