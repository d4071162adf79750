"""charge.refunded through the signed webhook endpoint: hours taken back in proportion."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.ledger import ledger_entry_append
from finances.services.ledger_verification import ledger_verify
from tests.factories import PurchaseTransactionFactory
from tests.support.stripe_events import post_event
from tests.support.webhook_pipeline_helpers import (
    balance_totals,
    ledger_rows,
    purchase_paid_by_webhook,
    refunded_event,
    succeeded_event,
)

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType

NOW = datetime(2024, 5, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def paid(api_client):
    """A completed purchase of 600 minutes for 14000 cents."""
    purchase = purchase_paid_by_webhook(api_client)
    assert purchase.status == Status.COMPLETED
    return purchase


def refund(api_client, purchase, total_cents):
    response = post_event(api_client, refunded_event(purchase, refunded_total_cents=total_cents))
    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    return response


def consume(purchase, minutes, reference="lesson-1"):
    with transaction.atomic():
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=EntryType.DEBIT,
            minutes=-minutes,
            idempotency_key=f"test-debit:{reference}",
            lesson_reference=reference,
        )


def test_a_partial_refund_takes_back_hours_in_proportion(api_client, paid):
    refund(api_client, paid, 7000)

    assert paid.status == Status.COMPLETED
    assert paid.refunded_amount_cents == 7000
    assert ledger_rows(paid) == [
        (EntryType.CREDIT, 600, 14000),
        (EntryType.REFUND_REVERSAL, -300, -7000),
    ]
    balance = balance_totals(paid.student)
    assert (balance["refunded_minutes"], balance["remaining_minutes"]) == (300, 300)
    assert (balance["paid_cents"], balance["refunded_cents"]) == (14000, 7000)
    assert WebhookEventLog.objects.filter(event_type="charge.refunded").get().status == "PROCESSED"
    assert ledger_verify().is_clean


def test_a_full_refund_refunds_the_purchase_and_takes_back_every_hour(api_client, paid):
    refund(api_client, paid, 14000)

    assert paid.status == Status.REFUNDED
    assert paid.refunded_amount_cents == 14000
    assert ledger_rows(paid)[1:] == [(EntryType.REFUND_REVERSAL, -600, -14000)]
    balance = balance_totals(paid.student)
    assert (balance["remaining_minutes"], balance["refunded_minutes"]) == (0, 600)
    assert balance["refunded_cents"] == 14000
    assert ledger_verify().is_clean


def test_a_partial_then_the_full_refund_add_up_to_the_whole_purchase(api_client, paid):
    refund(api_client, paid, 7000)
    refund(api_client, paid, 14000)

    assert paid.status == Status.REFUNDED
    assert ledger_rows(paid)[1:] == [
        (EntryType.REFUND_REVERSAL, -300, -7000),
        (EntryType.REFUND_REVERSAL, -300, -7000),
    ]
    assert balance_totals(paid.student)["remaining_minutes"] == 0
    assert balance_totals(paid.student)["refunded_cents"] == 14000


@pytest.mark.parametrize("later_total", [7000, 3000, 0], ids=["same", "older", "zero"])
def test_a_repeated_or_older_refund_total_changes_nothing(api_client, paid, later_total):
    refund(api_client, paid, 7000)
    rows, balance = ledger_rows(paid), balance_totals(paid.student)

    response = refund(api_client, paid, later_total)  # a new event id each time

    assert response.json()["duplicate"] is False
    assert paid.refunded_amount_cents == 7000
    assert paid.status == Status.COMPLETED
    assert ledger_rows(paid) == rows
    assert balance_totals(paid.student) == balance


def test_a_refund_of_consumed_hours_takes_back_only_the_unused_ones_and_flags_it(api_client, paid):
    consume(paid, 400)

    refund(api_client, paid, 14000)

    assert paid.status == Status.REFUNDED
    assert ledger_rows(paid)[-1] == (EntryType.REFUND_REVERSAL, -200, -14000)
    balance = balance_totals(paid.student)
    assert balance["remaining_minutes"] == 0
    assert (balance["consumed_minutes"], balance["refunded_minutes"]) == (400, 200)
    assert balance["refunded_cents"] == 14000
    assert paid.needs_review is True
    assert "600" in paid.review_reason
    assert "200" in paid.review_reason
    assert ledger_verify().is_clean


def test_a_partial_refund_within_the_unused_hours_is_not_flagged(api_client, paid):
    consume(paid, 200)

    refund(api_client, paid, 7000)

    assert ledger_rows(paid)[-1] == (EntryType.REFUND_REVERSAL, -300, -7000)
    assert balance_totals(paid.student)["remaining_minutes"] == 100
    assert paid.needs_review is False
    assert paid.review_reason == ""


def final_state(purchase) -> dict:
    purchase.refresh_from_db()
    return {
        "status": purchase.status,
        "refunded_amount_cents": purchase.refunded_amount_cents,
        "needs_review": purchase.needs_review,
        "ledger": sorted(ledger_rows(purchase)),
        "balance": balance_totals(purchase.student),
    }


@pytest.mark.parametrize("refunded_total", [1, 7000, 14000])
def test_a_refund_delivered_before_the_success_ends_in_the_in_order_state(
    api_client, refunded_total
):
    in_order, out_of_order = PurchaseTransactionFactory(), PurchaseTransactionFactory()
    post_event(api_client, succeeded_event(in_order))
    refund(api_client, in_order, refunded_total)

    early = refund(api_client, out_of_order, refunded_total)
    out_of_order.refresh_from_db()
    assert early.json()["status"] == "PROCESSED"
    assert out_of_order.status == Status.PENDING
    assert ledger_rows(out_of_order) == []
    assert post_event(api_client, succeeded_event(out_of_order)).status_code == 200

    assert final_state(out_of_order) == final_state(in_order)
    assert final_state(in_order)["refunded_amount_cents"] == refunded_total
    assert ledger_verify().is_clean


def test_a_refund_for_a_charge_that_is_not_ours_is_ignored(api_client, paid):
    document = refunded_event(paid, refunded_total_cents=14000, payment_intent_id="pi_foreign")

    response = post_event(api_client, document)

    assert response.status_code == 200
    assert response.json()["status"] == WebhookEventLog.Status.IGNORED
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_amount_cents) == (Status.COMPLETED, 0)
    assert len(ledger_rows(paid)) == 1
