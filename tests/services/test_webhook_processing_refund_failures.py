"""Refunds that fail at Stripe (refund.failed, refund.updated, charge.refund.updated, or a
cumulative charge.refunded that goes down) give back exactly what they took, once."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.consumption import lesson_consumption_record
from finances.services.ledger_verification import ledger_verify
from tests.factories import PurchaseTransactionFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.stripe_events import event, post_event, refund_object
from tests.support.webhook_pipeline_helpers import (
    balance_totals,
    ledger_rows,
    purchase_paid_by_webhook,
    refunded_event,
)

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType

NOW = datetime(2024, 5, 2, 15, 0, tzinfo=UTC)
LATER = int(NOW.timestamp()) + 60


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def paid(api_client):
    """A completed purchase of 600 minutes for 14000 cents."""
    purchase = purchase_paid_by_webhook(api_client)
    assert purchase.stripe_charge_id.startswith("ch_")
    return purchase


def deliver(api_client, purchase, document):
    response = post_event(api_client, document)
    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    return response


def refund(api_client, purchase, total_cents, **options):
    return deliver(
        api_client, purchase, refunded_event(purchase, refunded_total_cents=total_cents, **options)
    )


def refund_failed(api_client, purchase, amount, *, event_type="refund.failed", **options):
    document = event(event_type, refund_object(purchase, amount=amount, **options))
    return deliver(api_client, purchase, document)


def unused(purchase) -> int:
    return sum(minutes for _, minutes, _ in ledger_rows(purchase))


def test_a_failed_full_refund_gives_every_hour_back_and_completes_the_purchase_again(
    api_client, paid
):
    refund(api_client, paid, 14000)
    assert paid.status == Status.REFUNDED

    refund_failed(api_client, paid, 14000, refund_id="re_full")

    assert paid.status == Status.COMPLETED
    assert paid.refunded_amount_cents == 0
    assert paid.failed_refund_ids == ["re_full"]
    assert paid.needs_review
    assert "re_full" in paid.review_reason
    assert ledger_rows(paid)[-1] == (EntryType.REFUND_FAILURE, 600, 14000)
    balance = balance_totals(paid.student)
    assert (balance["remaining_minutes"], balance["refunded_minutes"]) == (600, 0)
    assert balance["refunded_cents"] == 0
    assert ledger_verify().is_clean


@pytest.mark.parametrize("shape", ["current", "charge_only", "embedded_charge"])
def test_a_failed_partial_refund_gives_back_its_minutes_in_every_shape(api_client, paid, shape):
    refund(api_client, paid, 7000)
    assert unused(paid) == 300

    refund_failed(api_client, paid, 7000, shape=shape)

    assert paid.refunded_amount_cents == 0
    assert unused(paid) == 600
    assert paid.status == Status.COMPLETED
    assert ledger_verify().is_clean


@pytest.mark.parametrize("event_type", ["refund.updated", "charge.refund.updated"])
def test_one_of_two_refunds_failing_gives_back_only_its_share(api_client, paid, event_type):
    refund(api_client, paid, 5000)
    refund(api_client, paid, 7000)  # a second refund of 2000
    assert unused(paid) == 600 - 300

    refund_failed(api_client, paid, 2000, event_type=event_type, refund_id="re_second")

    assert paid.refunded_amount_cents == 5000
    assert unused(paid) == 600 - 600 * 5000 // 14000
    assert ledger_verify().is_clean


def test_a_canceled_refund_is_a_failure_too(api_client, paid):
    refund(api_client, paid, 7000)

    refund_failed(api_client, paid, 7000, status="canceled", event_type="refund.updated")

    assert (paid.refunded_amount_cents, unused(paid)) == (0, 600)


def test_a_refund_failure_delivered_twice_or_by_two_event_types_applies_once(api_client, paid):
    refund(api_client, paid, 14000)
    refund_failed(api_client, paid, 7000, refund_id="re_1")
    entries = len(ledger_rows(paid))

    refund_failed(api_client, paid, 7000, refund_id="re_1")
    refund_failed(api_client, paid, 7000, refund_id="re_1", event_type="charge.refund.updated")

    assert len(ledger_rows(paid)) == entries
    assert paid.refunded_amount_cents == 7000
    assert unused(paid) == 300
    assert ledger_verify().is_clean


def test_a_refund_still_pending_or_succeeded_changes_nothing(api_client, paid):
    refund(api_client, paid, 7000)

    refund_failed(api_client, paid, 7000, status="succeeded", event_type="refund.updated")
    refund_failed(api_client, paid, 7000, status="pending", event_type="refund.updated")

    assert (paid.refunded_amount_cents, unused(paid)) == (7000, 300)
    assert not paid.needs_review


def test_a_failed_refund_after_lessons_gives_back_only_what_it_took(api_client, paid):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=paid.student_id, minutes=100, lesson_reference="L-1"
    )
    refund(api_client, paid, 14000)  # takes the 500 unused; 100 are a shortfall
    paid.refresh_from_db()
    assert paid.refund_shortfall_minutes == 100

    refund_failed(api_client, paid, 14000)

    assert unused(paid) == 500
    assert paid.refund_shortfall_minutes == 0
    assert paid.status == Status.COMPLETED
    assert ledger_verify().is_clean


def test_a_lower_cumulative_total_reported_later_gives_the_difference_back(api_client, paid):
    refund(api_client, paid, 14000)

    refund(api_client, paid, 5000, event_created=LATER)

    assert paid.refunded_amount_cents == 5000
    assert paid.status == Status.COMPLETED
    assert unused(paid) == 600 - 600 * 5000 // 14000
    assert paid.needs_review
    assert ledger_verify().is_clean


def test_a_lower_total_reported_earlier_than_the_recorded_one_is_stale(api_client, paid):
    refund(api_client, paid, 7000, event_created=LATER)

    refund(api_client, paid, 5000, event_created=LATER - 30)
    refund(api_client, paid, 5000, event_created=LATER)  # same moment: cannot tell, kept

    assert paid.refunded_amount_cents == 7000
    assert unused(paid) == 300


def test_a_failure_older_than_the_recorded_total_only_records_the_refund_id(api_client, paid):
    refund(api_client, paid, 5000, event_created=LATER)  # Stripe's total already without re_old

    deliver(
        api_client,
        paid,
        event(
            "refund.failed",
            refund_object(paid, amount=2000, refund_id="re_old"),
            created=LATER - 30,
        ),
    )

    assert paid.refunded_amount_cents == 5000
    assert paid.failed_refund_ids == ["re_old"]


def test_a_failed_refund_of_someone_elses_payment_is_ignored(api_client, paid):
    stranger = PurchaseTransactionFactory()
    document = event("refund.failed", refund_object(stranger, amount=100))
    document["data"]["object"]["payment_intent"] = "pi_unknown"
    document["data"]["object"]["charge"] = "ch_unknown"

    response = post_event(api_client, document)

    assert response.status_code == 200
    assert WebhookEventLog.objects.get(stripe_event_id=document["id"]).status == "IGNORED"


def test_minutes_a_failed_refund_gives_back_to_an_expired_lot_expire_again(
    api_client, paid, frozen
):
    refund(api_client, paid, 14000)
    frozen.shift(paid.expires_at - NOW + timedelta(days=1))

    refund_failed(api_client, paid, 14000)

    assert paid.status == Status.COMPLETED
    assert unused(paid) == 0
    assert ledger_rows(paid)[-1] == (EntryType.EXPIRY, -600, 0)
    assert ledger_verify().is_clean
