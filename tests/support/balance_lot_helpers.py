"""Students with paid hour lots at chosen times, through the real payment services."""

from datetime import datetime

import time_machine
from django.db import transaction

from finances.models import HoursLedgerEntry
from finances.services.ledger import ledger_entry_append
from tests.factories import PurchaseTransactionFactory
from tests.support.payments import purchase_pay


def lot_paid_at(moment: datetime, **purchase_fields):
    """A purchase completed (and credited) as if Stripe reported it at `moment`."""
    purchase = PurchaseTransactionFactory(**purchase_fields)
    with time_machine.travel(moment, tick=False):
        purchase_pay(purchase)
    assert purchase.paid_at == moment
    return purchase


def lot_consume(purchase, minutes: int, reference: str) -> None:
    with transaction.atomic():
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=HoursLedgerEntry.EntryType.DEBIT,
            minutes=-minutes,
            idempotency_key=f"test-lesson:{reference}",
            lesson_reference=reference,
        )
