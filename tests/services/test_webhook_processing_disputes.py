"""charge.dispute.* through the signed webhook endpoint: unused hours held while a
dispute is open, released when it is won, gone when it is lost; once, in any order."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from finances.models import Dispute, HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.consumption import (
    InsufficientHours,
    lesson_consumption_record,
    lesson_consumption_reverse,
)
from finances.services.ledger import ledger_entry_append
from finances.services.ledger_verification import ledger_verify
from tests.factories import PurchaseTransactionFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.stripe_events import dispute_object, event, post_event
from tests.support.webhook_pipeline_helpers import (
    balance_totals,
    ledger_rows,
    purchase_paid_by_webhook,
    succeeded_event,
)

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
Outcome = Dispute.Outcome

NOW = datetime(2024, 5, 2, 15, 0, tzinfo=UTC)
DUE_BY = int(datetime(2024, 5, 12, 23, 59, tzinfo=UTC).timestamp())


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def paid(api_client):
    """A completed purchase of 600 minutes for 14000 cents."""
    purchase = purchase_paid_by_webhook(api_client)
    return purchase


def dispute_event(api_client, purchase, kind, status, *, dispute_id="dp_1", **options):
    document = event(
        f"charge.dispute.{kind}",
        dispute_object(purchase, dispute_id=dispute_id, status=status, due_by=DUE_BY, **options),
    )
    response = post_event(api_client, document)
    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    return document


def unused(purchase) -> int:
    return sum(minutes for _, minutes, _ in ledger_rows(purchase))


def dispute() -> Dispute:
    return Dispute.objects.get(stripe_dispute_id="dp_1")


def assert_clean():
    verification = ledger_verify()
    assert verification.problems == []


@pytest.mark.parametrize("shape", ["current", "charge_only", "embedded_charge"])
def test_an_opened_dispute_flags_the_purchase_and_holds_its_unused_minutes(api_client, paid, shape):
    dispute_event(api_client, paid, "created", "needs_response", shape=shape)

    assert paid.needs_review
    assert "Dispute dp_1 opened for 14000 cents EUR" in paid.review_reason
    assert "evidence due 2024-05-12 23:59 UTC" in paid.review_reason
    assert ledger_rows(paid)[-1] == (EntryType.DISPUTE_HOLD, -600, 0)
    balance = balance_totals(paid.student)
    assert (balance["held_minutes"], balance["remaining_minutes"]) == (600, 0)
    assert (dispute().outcome, dispute().held_minutes) == (Outcome.OPEN, 600)
    with pytest.raises(InsufficientHours):
        lesson_consumption_record(
            actor=lesson_recorder(), student_id=paid.student_id, minutes=30, lesson_reference="L"
        )
    assert_clean()


def test_a_partial_dispute_holds_its_share_only(api_client, paid):
    dispute_event(api_client, paid, "created", "warning_needs_response", amount=7000)

    assert dispute().held_minutes == 300
    assert unused(paid) == 300
    assert_clean()


def test_a_won_dispute_releases_the_hold(api_client, paid):
    dispute_event(api_client, paid, "created", "needs_response")
    dispute_event(api_client, paid, "funds_withdrawn", "needs_response")
    dispute_event(api_client, paid, "updated", "under_review")

    dispute_event(api_client, paid, "closed", "won")

    assert ledger_rows(paid)[-1] == (EntryType.DISPUTE_RELEASE, 600, 0)
    assert unused(paid) == 600
    assert balance_totals(paid.student)["held_minutes"] == 0
    assert (dispute().outcome, dispute().funds_withdrawn) == (Outcome.WON, True)
    assert "Dispute dp_1 won" in paid.review_reason
    assert_clean()


def test_funds_reinstated_alone_releases_what_it_held_and_changes_no_hours(api_client, paid):
    dispute_event(api_client, paid, "funds_reinstated", "under_review")
    dispute_event(api_client, paid, "funds_reinstated", "under_review")

    assert unused(paid) == 600
    assert dispute().outcome == Outcome.WON
    assert [row[0] for row in ledger_rows(paid)].count(EntryType.DISPUTE_RELEASE) == 1
    assert_clean()


def test_funds_withdrawn_alone_holds_once(api_client, paid):
    dispute_event(api_client, paid, "funds_withdrawn", "needs_response")
    dispute_event(api_client, paid, "funds_withdrawn", "needs_response")

    assert unused(paid) == 0
    assert [row[0] for row in ledger_rows(paid)].count(EntryType.DISPUTE_HOLD) == 1
    assert dispute().funds_withdrawn
    assert_clean()


def test_a_lost_dispute_takes_the_held_minutes_and_the_money_for_good(api_client, paid):
    dispute_event(api_client, paid, "created", "needs_response")
    dispute_event(api_client, paid, "funds_withdrawn", "needs_response")

    dispute_event(api_client, paid, "closed", "lost")

    assert ledger_rows(paid)[-2:] == [
        (EntryType.DISPUTE_RELEASE, 600, 0),
        (EntryType.DISPUTE_LOSS, -600, -14000),
    ]
    assert unused(paid) == 0
    balance = balance_totals(paid.student)
    assert (balance["held_minutes"], balance["refunded_minutes"]) == (0, 600)
    assert balance["refunded_cents"] == 14000
    assert (dispute().outcome, dispute().lost_minutes) == (Outcome.LOST, 600)
    assert paid.dispute_shortfall_minutes == 0
    assert_clean()


def test_closed_before_created_and_duplicates_apply_once(api_client, paid):
    closed = dispute_event(api_client, paid, "closed", "lost", shape="charge_only")
    rows = ledger_rows(paid)

    dispute_event(api_client, paid, "created", "needs_response")
    dispute_event(api_client, paid, "updated", "needs_response")
    assert post_event(api_client, closed).status_code == 200

    assert ledger_rows(paid) == rows
    assert unused(paid) == 0
    assert dispute().outcome == Outcome.LOST
    assert_clean()


def test_a_won_dispute_is_final_whatever_arrives_late(api_client, paid):
    dispute_event(api_client, paid, "closed", "won")
    dispute_event(api_client, paid, "created", "needs_response")
    dispute_event(api_client, paid, "closed", "lost")

    assert unused(paid) == 600
    assert dispute().outcome == Outcome.WON
    assert_clean()


def test_minutes_used_before_a_lost_dispute_are_a_shortfall_a_reversal_settles(api_client, paid):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=paid.student_id, minutes=200, lesson_reference="L-1"
    )
    dispute_event(api_client, paid, "created", "needs_response")
    assert dispute().held_minutes == 400

    dispute_event(api_client, paid, "closed", "lost")
    assert paid.dispute_shortfall_minutes == 200
    assert "200 minutes already used are a shortfall" in paid.review_reason

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=paid.student_id, lesson_reference="L-1"
    )

    paid.refresh_from_db()
    assert unused(paid) == 0
    assert paid.dispute_shortfall_minutes == 0
    assert ledger_rows(paid)[-1] == (EntryType.DISPUTE_LOSS, -200, 0)
    assert_clean()


def test_a_reversed_lesson_tops_up_an_open_dispute_hold(api_client, paid):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=paid.student_id, minutes=200, lesson_reference="L-1"
    )
    dispute_event(api_client, paid, "created", "needs_response")

    lesson_consumption_reverse(
        actor=lesson_recorder(), student_id=paid.student_id, lesson_reference="L-1"
    )

    assert dispute().held_minutes == 600
    assert unused(paid) == 0
    dispute_event(api_client, paid, "closed", "won")
    assert unused(paid) == 600
    assert_clean()


def test_a_dispute_of_a_charge_we_do_not_know_is_ignored(api_client, paid):
    stranger = PurchaseTransactionFactory()
    document = event(
        "charge.dispute.created",
        dispute_object(stranger, dispute_id="dp_x", shape="charge_only"),
    )
    document["data"]["object"]["charge"] = "ch_unknown"

    response = post_event(api_client, document)

    assert response.status_code == 200
    assert WebhookEventLog.objects.get(stripe_event_id=document["id"]).status == "IGNORED"
    assert not Dispute.objects.exists()


@pytest.mark.parametrize(
    ("status", "unused_after"), [("needs_response", 0), ("lost", 0), ("won", 600)]
)
def test_a_dispute_reported_before_the_payment_success_applies_once_credited(
    api_client, status, unused_after
):
    purchase = PurchaseTransactionFactory()
    success = succeeded_event(purchase)
    dispute_event(
        api_client, purchase, "closed" if status != "needs_response" else "created", status
    )
    assert not ledger_rows(purchase)

    assert post_event(api_client, success).status_code == 200

    assert unused(purchase) == unused_after
    assert_clean()


def test_minutes_released_after_the_lot_expired_expire_again_at_once(api_client, paid, frozen):
    dispute_event(api_client, paid, "created", "needs_response")
    frozen.shift(paid.expires_at - NOW + timedelta(days=1))

    dispute_event(api_client, paid, "closed", "won")

    assert unused(paid) == 0
    assert ledger_rows(paid)[-1] == (EntryType.EXPIRY, -600, 0)
    assert_clean()


def test_verify_ledger_catches_a_hold_no_open_dispute_explains(api_client, paid):
    dispute_event(api_client, paid, "created", "needs_response")
    Dispute.objects.filter(pk=dispute().pk).update(outcome=Outcome.WON, held_minutes=0)

    problems = ledger_verify().problems

    assert any("600 minutes on hold, its open disputes hold 0" in p for p in problems), problems


def test_verify_ledger_catches_usable_minutes_on_a_lost_lot(api_client, paid):
    lesson_consumption_record(
        actor=lesson_recorder(), student_id=paid.student_id, minutes=60, lesson_reference="L-1"
    )
    dispute_event(api_client, paid, "closed", "lost")
    with transaction.atomic():  # minutes back without settling the shortfall
        ledger_entry_append(
            student_id=paid.student_id,
            purchase_transaction_id=paid.pk,
            entry_type=EntryType.DEBIT_REVERSAL,
            minutes=60,
            idempotency_key="test:minutes-back",
        )

    problems = ledger_verify().problems

    assert any("60 usable minutes, more than the 0" in p for p in problems), problems
