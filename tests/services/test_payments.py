"""The payment services called directly with what finances.stripe_payloads parses."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import transaction

from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.ledger_verification import ledger_verify
from finances.services.payments import (
    OutcomeKind,
    PurchaseNotFound,
    apply_refund,
    confirm_payment_completion,
    handle_payment_cancellation,
    handle_payment_failure,
    handle_payment_processing,
)
from finances.stripe_payloads import charge_parse, payment_intent_parse
from tests.factories import PurchaseTransactionFactory
from tests.support.stripe_events import charge_object, payment_intent_object
from tests.support.webhook_pipeline_helpers import NO_BALANCE, balance_totals, ledger_rows

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2024, 2, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def intent(purchase, **options):
    return payment_intent_parse(payment_intent_object(purchase, **options))


def charge(purchase, refunded_total_cents, **options):
    return charge_parse(charge_object(purchase, amount_refunded=refunded_total_cents, **options))


def pay(purchase):
    outcome = confirm_payment_completion(payment_intent=intent(purchase), source_event_id="evt_1")
    purchase.refresh_from_db()
    return outcome


def refund(purchase, refunded_total_cents):
    outcome = apply_refund(charge=charge(purchase, refunded_total_cents))
    purchase.refresh_from_db()
    return outcome


class TestConfirmPaymentCompletion:
    def test_a_pending_purchase_is_completed_and_credited(self):
        purchase = PurchaseTransactionFactory()

        outcome = pay(purchase)

        assert (outcome.kind, outcome.transaction_id) == (OutcomeKind.APPLIED, purchase.pk)
        assert purchase.status == Status.COMPLETED
        assert ledger_rows(purchase) == [(EntryType.CREDIT, 600, 14000)]

    def test_without_any_time_from_stripe_the_payment_time_is_now(self):
        purchase = PurchaseTransactionFactory()

        confirm_payment_completion(payment_intent=intent(purchase), reported_at=None)

        purchase.refresh_from_db()
        assert purchase.paid_at == NOW
        assert purchase.expires_at == NOW + timedelta(days=45)

    def test_the_reported_time_is_used_when_the_charge_is_not_embedded(self):
        purchase = PurchaseTransactionFactory()
        reported = NOW - timedelta(hours=2)

        confirm_payment_completion(payment_intent=intent(purchase), reported_at=reported)

        purchase.refresh_from_db()
        assert purchase.paid_at == reported

    def test_a_second_report_changes_nothing(self):
        purchase = PurchaseTransactionFactory()
        pay(purchase)

        outcome = pay(purchase)

        assert outcome.kind == OutcomeKind.NO_CHANGE
        assert len(ledger_rows(purchase)) == 1

    def test_a_payment_intent_that_is_not_ours_is_reported_as_such(self):
        purchase = PurchaseTransactionFactory()

        outcome = confirm_payment_completion(
            payment_intent=intent(purchase, payment_intent_id="pi_other", metadata={})
        )

        assert outcome.kind == OutcomeKind.NOT_OURS
        assert outcome.transaction_id is None
        purchase.refresh_from_db()
        assert purchase.status == Status.PENDING

    def test_our_tag_without_a_purchase_raises_purchase_not_found(self):
        purchase = PurchaseTransactionFactory()
        metadata = {
            "application": settings.STRIPE_METADATA_APPLICATION,
            "transaction_id": str(uuid.uuid4()),
        }

        # The service raises inside its caller's transaction; a savepoint contains it here.
        with pytest.raises(PurchaseNotFound) as raised, transaction.atomic():
            confirm_payment_completion(
                payment_intent=intent(purchase, payment_intent_id="pi_lost", metadata=metadata)
            )

        assert raised.value.code == "purchase_not_found"
        assert raised.value.status_code >= 500
        assert not HoursLedgerEntry.objects.exists()

    def test_our_tag_with_an_unparseable_transaction_id_raises_purchase_not_found(self):
        purchase = PurchaseTransactionFactory()
        metadata = {"application": settings.STRIPE_METADATA_APPLICATION, "transaction_id": "x"}

        with pytest.raises(PurchaseNotFound), transaction.atomic():
            confirm_payment_completion(
                payment_intent=intent(purchase, payment_intent_id="pi_lost", metadata=metadata)
            )

    def test_a_cancelled_purchase_that_stripe_reports_paid_is_credited_and_flagged(self):
        purchase = PurchaseTransactionFactory(status=Status.CANCELLED)

        outcome = pay(purchase)

        assert outcome.kind == OutcomeKind.APPLIED
        assert purchase.status == Status.COMPLETED
        assert ledger_rows(purchase) == [(EntryType.CREDIT, 600, 14000)]
        assert purchase.needs_review is True
        assert "cancelled" in purchase.review_reason

    def test_a_refunded_purchase_is_never_completed_again(self):
        purchase = PurchaseTransactionFactory()
        pay(purchase)
        refund(purchase, 14000)

        outcome = pay(purchase)

        assert outcome.kind == OutcomeKind.NO_CHANGE
        assert purchase.status == Status.REFUNDED
        assert len(ledger_rows(purchase)) == 2

    def test_a_mismatch_flags_without_crediting(self):
        purchase = PurchaseTransactionFactory()

        outcome = confirm_payment_completion(payment_intent=intent(purchase, amount=1))

        assert outcome.kind == OutcomeKind.FLAGGED
        purchase.refresh_from_db()
        assert (purchase.status, purchase.needs_review) == (Status.PENDING, True)
        assert balance_totals(purchase.student) == NO_BALANCE


class TestSimpleTransitions:
    def test_a_failure_records_stripes_message(self):
        purchase = PurchaseTransactionFactory()

        outcome = handle_payment_failure(
            payment_intent=intent(
                purchase, status="requires_payment_method", failure_message="Card expired."
            )
        )

        assert outcome.kind == OutcomeKind.APPLIED
        purchase.refresh_from_db()
        assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "Card expired.")

    def test_a_failure_without_a_message_gets_a_generic_reason(self):
        purchase = PurchaseTransactionFactory()

        handle_payment_failure(payment_intent=intent(purchase, status="requires_payment_method"))

        purchase.refresh_from_db()
        assert purchase.status == Status.FAILED
        assert purchase.failure_reason == "The payment failed."

    def test_a_second_failure_with_another_message_updates_the_reason(self):
        purchase = PurchaseTransactionFactory(status=Status.FAILED, failure_reason="First.")

        handle_payment_failure(
            payment_intent=intent(purchase, status="requires_payment_method", failure_message="2nd")
        )

        purchase.refresh_from_db()
        assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "2nd")

    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            (Status.PENDING, Status.PROCESSING),
            (Status.FAILED, Status.PROCESSING),
            (Status.PROCESSING, Status.PROCESSING),
            (Status.COMPLETED, Status.COMPLETED),
            (Status.CANCELLED, Status.CANCELLED),
        ],
    )
    def test_processing(self, start, expected):
        purchase = PurchaseTransactionFactory(status=start, **_paid_dates(start))

        handle_payment_processing(payment_intent=intent(purchase, status="processing"))

        purchase.refresh_from_db()
        assert purchase.status == expected

    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            (Status.PENDING, Status.CANCELLED),
            (Status.PROCESSING, Status.CANCELLED),
            (Status.FAILED, Status.CANCELLED),
            (Status.COMPLETED, Status.COMPLETED),
            (Status.REFUNDED, Status.REFUNDED),
        ],
    )
    def test_cancellation(self, start, expected):
        purchase = PurchaseTransactionFactory(status=start, **_paid_dates(start))

        outcome = handle_payment_cancellation(payment_intent=intent(purchase, status="canceled"))

        purchase.refresh_from_db()
        assert purchase.status == expected
        expected_kind = OutcomeKind.APPLIED if start != expected else OutcomeKind.NO_CHANGE
        assert outcome.kind == expected_kind


def _paid_dates(status) -> dict:
    if status in (Status.COMPLETED, Status.REFUNDED):
        return {"paid_at": NOW, "expires_at": NOW + timedelta(days=45)}
    return {}


class TestApplyRefund:
    @pytest.mark.parametrize(
        ("refunded_total", "minutes_taken"),
        [(1, 0), (23, 0), (24, 1), (7000, 300), (4667, 200), (13999, 599), (14000, 600)],
    )
    def test_minutes_are_taken_back_in_proportion_rounded_down(self, refunded_total, minutes_taken):
        purchase = PurchaseTransactionFactory()
        pay(purchase)

        outcome = refund(purchase, refunded_total)

        assert outcome.kind == OutcomeKind.APPLIED
        assert ledger_rows(purchase)[1:] == [
            (EntryType.REFUND_REVERSAL, -minutes_taken, -refunded_total)
        ]
        balance = balance_totals(purchase.student)
        assert balance["remaining_minutes"] == 600 - minutes_taken
        assert balance["refunded_cents"] == refunded_total
        assert purchase.refunded_amount_cents == refunded_total
        assert ledger_verify().is_clean

    def test_rounding_never_loses_minutes_over_successive_partial_refunds(self):
        purchase = PurchaseTransactionFactory()
        pay(purchase)

        for total in (1, 4666, 9333, 13999, 14000):
            refund(purchase, total)

        taken = [minutes for kind, minutes, _ in ledger_rows(purchase) if kind != EntryType.CREDIT]
        assert taken == [0, -199, -200, -200, -1]
        assert sum(taken) == -600
        assert balance_totals(purchase.student)["remaining_minutes"] == 0
        assert purchase.status == Status.REFUNDED

    def test_a_repeated_total_changes_nothing(self):
        purchase = PurchaseTransactionFactory()
        pay(purchase)
        refund(purchase, 7000)

        outcome = refund(purchase, 7000)

        assert outcome.kind == OutcomeKind.NO_CHANGE
        assert len(ledger_rows(purchase)) == 2

    def test_more_refunded_than_paid_is_capped_and_flagged(self):
        purchase = PurchaseTransactionFactory()
        pay(purchase)

        apply_refund(charge=charge(purchase, 15000, amount=15000))

        purchase.refresh_from_db()
        assert purchase.refunded_amount_cents == 14000
        assert purchase.status == Status.REFUNDED
        assert purchase.needs_review is True
        assert "15000" in purchase.review_reason
        assert balance_totals(purchase.student)["refunded_cents"] == 14000

    @pytest.mark.parametrize(
        "options", [{"currency": "usd"}, {"livemode": True}], ids=["currency", "livemode"]
    )
    def test_a_refund_that_does_not_match_is_flagged_and_changes_nothing(self, options):
        purchase = PurchaseTransactionFactory()
        pay(purchase)

        outcome = apply_refund(charge=charge(purchase, 7000, **options))

        assert outcome.kind == OutcomeKind.FLAGGED
        purchase.refresh_from_db()
        assert (purchase.refunded_amount_cents, purchase.needs_review) == (0, True)
        assert len(ledger_rows(purchase)) == 1

    def test_a_refund_for_an_unknown_payment_intent_is_not_ours(self):
        purchase = PurchaseTransactionFactory()

        outcome = apply_refund(charge=charge(purchase, 100, payment_intent_id="pi_elsewhere"))

        assert outcome.kind == OutcomeKind.NOT_OURS

    def test_a_refund_before_the_payment_is_recorded_without_touching_hours(self):
        purchase = PurchaseTransactionFactory()

        outcome = refund(purchase, 7000)

        assert outcome.kind == OutcomeKind.APPLIED
        assert (purchase.status, purchase.refunded_amount_cents) == (Status.PENDING, 7000)
        assert ledger_rows(purchase) == []
        assert balance_totals(purchase.student) == NO_BALANCE
