"""Assertions and builders shared by the webhook pipeline, ledger and read-API tests."""

from finances.models import HoursLedgerEntry, StudentAccountBalance
from tests.factories import PurchaseTransactionFactory
from tests.support.stripe_events import (
    charge_object,
    event,
    payment_intent_object,
    post_event,
)

BALANCE_FIELDS = StudentAccountBalance.TOTAL_FIELDS

NO_BALANCE = dict.fromkeys(BALANCE_FIELDS, 0)


def assert_error_envelope(response, status: int, code: str) -> dict:
    """The response is `{"error": {"code", "message", "fields"?}}` with this status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert {"code", "message"} <= set(error), error
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def balance_totals(student) -> dict[str, int]:
    """The student's balance fields; all zero when no balance row exists yet."""
    balance = StudentAccountBalance.objects.filter(student=student).first()
    return {name: getattr(balance, name) if balance else 0 for name in BALANCE_FIELDS}


def ledger_rows(purchase) -> list[tuple[str, int, int]]:
    """(entry type, minutes, amount cents) of the purchase's ledger entries, in order."""
    return list(
        HoursLedgerEntry.objects.filter(purchase_transaction=purchase)
        .order_by("created_at", "id")
        .values_list("entry_type", "minutes", "amount_cents")
    )


def succeeded_event(purchase, *, event_id=None, created=None, **intent_options) -> dict:
    return event(
        "payment_intent.succeeded",
        payment_intent_object(purchase, **intent_options),
        event_id=event_id,
        created=created,
    )


def refunded_event(
    purchase, *, refunded_total_cents: int, event_id=None, event_created=None, **charge_options
):
    return event(
        "charge.refunded",
        charge_object(purchase, amount_refunded=refunded_total_cents, **charge_options),
        event_id=event_id,
        created=event_created,
    )


def purchase_paid_by_webhook(client):
    """A purchase (600 minutes for 14000 cents by default) completed by its signed
    `payment_intent.succeeded`, as read back from the database."""
    purchase = PurchaseTransactionFactory()
    assert post_event(client, succeeded_event(purchase)).status_code == 200
    purchase.refresh_from_db()
    return purchase
