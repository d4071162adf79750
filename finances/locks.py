"""Row locks, taken only through these helpers and always in this order:

    purchase transaction → student balance → (webhook event row, by its final UPDATE)

A use case may skip a step but never take an earlier one after a later one, so two use
cases can never wait for each other in a cycle. Transactions that lock an event row on
its own (retry claims, failure records) hold no other lock and never wait (SKIP LOCKED)
or finish at once. On SQLite `select_for_update` is a no-op; there IMMEDIATE
transactions serialize writers instead (see settings).
"""

from django.db import connection

from finances.models import PurchaseTransaction, StudentAccountBalance


def _assert_in_transaction() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("Row locks are only meaningful inside a transaction.")


def purchase_transaction_lock(
    *, payment_intent_id: str | None = None, transaction_id=None
) -> PurchaseTransaction | None:
    """Locks the purchase with this PaymentIntent id, or else with this primary key."""
    _assert_in_transaction()
    queryset = PurchaseTransaction.objects.select_for_update()
    if payment_intent_id:
        found = queryset.filter(stripe_payment_intent_id=payment_intent_id).first()
        if found is not None or transaction_id is None:
            return found
    if transaction_id is None:
        return None
    return queryset.filter(pk=transaction_id).first()


def student_balance_lock(*, student_id: int) -> StudentAccountBalance:
    """Locks the student's balance row, creating it on first need."""
    _assert_in_transaction()
    balance = (
        StudentAccountBalance.objects.select_for_update().filter(student_id=student_id).first()
    )
    if balance is None:
        StudentAccountBalance.objects.get_or_create(student_id=student_id)
        balance = StudentAccountBalance.objects.select_for_update().get(student_id=student_id)
    return balance
