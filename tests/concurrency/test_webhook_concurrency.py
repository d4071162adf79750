"""Stripe's deliveries racing each other on PostgreSQL: the hours are credited exactly once.

Every delivery is a real signed POST through the webhook endpoint (Django test client, one
per thread). The assertions are invariants that hold for every thread interleaving: one
CREDIT per paid purchase, the final state, balances equal to the ledger.
"""

import json
import random
import threading

import pytest
from django.db.models import Sum
from django.test import Client

from finances.models import (
    HoursLedgerEntry,
    PurchaseTransaction,
    StudentAccountBalance,
    WebhookEventLog,
)
from finances.services import payments
from finances.services.ledger_verification import ledger_verify
from finances.services.webhook_retries import webhook_events_retry
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, UserFactory
from tests.support.concurrent_threads import run_together, values_or_raise, wait_for_lock_waiter
from tests.support.stripe_events import (
    charge_object,
    event,
    payment_intent_object,
    post_event,
    sign,
)

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

EntryType = HoursLedgerEntry.EntryType
Status = PurchaseTransaction.Status
DELIVERY_THREADS = 8


def _signed(document: dict) -> tuple[str, str]:
    body = json.dumps(document)
    return body, sign(body)


def _delivery(body: str, signature: str):
    def deliver() -> tuple[int, dict]:
        response = post_event(Client(), body, signature=signature)
        return response.status_code, response.json()

    return deliver


def _deliveries_in_turn(deliveries: list):
    def deliver_all() -> list[tuple[int, dict]]:
        return [deliver() for deliver in deliveries]

    return deliver_all


def _entries(purchase, entry_type: str):
    return HoursLedgerEntry.objects.filter(purchase_transaction=purchase, entry_type=entry_type)


def _assert_ledger_clean() -> None:
    verification = ledger_verify()
    assert verification.problems == []
    assert verification.students_checked >= 1


def _succeeded(purchase, **kwargs) -> dict:
    return event("payment_intent.succeeded", payment_intent_object(purchase), **kwargs)


def test_25_simultaneous_deliveries_of_one_event_credit_the_hours_exactly_once():
    purchase = PurchaseTransactionFactory(plan=PricingPlanFactory(minutes=600, price_cents=14000))
    document = _succeeded(purchase)
    deliver = _delivery(*_signed(document))

    results = values_or_raise(run_together([deliver] * 25))

    assert [status for status, _ in results] == [200] * 25
    assert {body["status"] for _, body in results} == {WebhookEventLog.Status.PROCESSED}
    assert sum(not body["duplicate"] for _, body in results) == 1
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    credit = _entries(purchase, EntryType.CREDIT).get()
    assert (credit.minutes, credit.amount_cents, credit.stripe_event_id) == (
        600,
        14000,
        document["id"],
    )
    assert HoursLedgerEntry.objects.filter(student=purchase.student).count() == 1
    balance = StudentAccountBalance.objects.get(student=purchase.student)
    assert (balance.purchased_minutes, balance.remaining_minutes, balance.paid_cents) == (
        600,
        600,
        14000,
    )
    log = WebhookEventLog.objects.get(stripe_event_id=document["id"])
    assert log.status == WebhookEventLog.Status.PROCESSED
    assert log.delivery_count == 25
    assert log.purchase_transaction_id == purchase.pk
    _assert_ledger_clean()


def _purchases_of_a_few_students(count: int) -> list[PurchaseTransaction]:
    """Purchases spread over three students (so balance rows are shared) and two plans."""
    students = [UserFactory() for _ in range(3)]
    plans = [
        PricingPlanFactory(minutes=600, price_cents=14000),
        PricingPlanFactory(minutes=90, price_cents=2500),
    ]
    return [
        PurchaseTransactionFactory(student=students[index % 3], plan=plans[index % 2])
        for index in range(count)
    ]


def _four_reports(purchase, *, refunded_total_cents: int) -> list[dict]:
    return [
        _succeeded(purchase),
        event(
            "payment_intent.payment_failed",
            payment_intent_object(
                purchase,
                status="requires_payment_method",
                failure_message="Your card was declined.",
            ),
        ),
        event("payment_intent.canceled", payment_intent_object(purchase, status="canceled")),
        event("charge.refunded", charge_object(purchase, amount_refunded=refunded_total_cents)),
    ]


def _deliver_shuffled_from_threads(documents: list[dict], *, seed: int) -> list[tuple]:
    """Each event delivered twice, in a seeded random order, spread over several threads."""
    deliveries = [_delivery(*_signed(document)) for document in documents] * 2
    random.Random(seed).shuffle(deliveries)
    shares = [deliveries[index::DELIVERY_THREADS] for index in range(DELIVERY_THREADS)]
    per_thread = values_or_raise(run_together([_deliveries_in_turn(share) for share in shares]))
    return [result for results in per_thread for result in results]


def _refund_scenario(*, seed: int, refunded_share: float):
    purchases = _purchases_of_a_few_students(10)
    documents = [
        document
        for purchase in purchases
        for document in _four_reports(
            purchase, refunded_total_cents=int(purchase.amount_cents * refunded_share)
        )
    ]

    results = _deliver_shuffled_from_threads(documents, seed=seed)

    assert len(results) == 2 * len(documents) == 80
    assert [status for status, _ in results] == [200] * 80, f"seed {seed}: {results}"
    logs = WebhookEventLog.objects.filter(stripe_event_id__in=[d["id"] for d in documents])
    assert sorted(logs.order_by().values_list("status", "delivery_count").distinct()) == [
        (WebhookEventLog.Status.PROCESSED, 2)
    ]
    assert logs.count() == len(documents)
    for purchase in purchases:
        purchase.refresh_from_db()
    return purchases


def _assert_student_balances_equal_their_lots(purchases, refunded_minutes_by_purchase) -> None:
    for student_id in {purchase.student_id for purchase in purchases}:
        own = [purchase for purchase in purchases if purchase.student_id == student_id]
        bought = sum(purchase.minutes for purchase in own)
        taken_back = sum(refunded_minutes_by_purchase[purchase.pk] for purchase in own)
        balance = StudentAccountBalance.objects.get(student_id=student_id)
        assert balance.purchased_minutes == bought
        assert balance.refunded_minutes == taken_back
        assert balance.remaining_minutes == bought - taken_back
        assert balance.paid_cents == sum(purchase.amount_cents for purchase in own)
        assert balance.refunded_cents == sum(purchase.refunded_amount_cents for purchase in own)


@pytest.mark.parametrize("seed", [7, 2024, 31337])
def test_interleaved_success_failure_cancel_and_full_refund_end_refunded_with_one_credit(seed):
    purchases = _refund_scenario(seed=seed, refunded_share=1)

    for purchase in purchases:
        assert purchase.status == Status.REFUNDED, f"seed {seed}"
        assert purchase.refunded_amount_cents == purchase.amount_cents
        credit = _entries(purchase, EntryType.CREDIT).get()
        assert (credit.minutes, credit.amount_cents) == (purchase.minutes, purchase.amount_cents)
        reversal = _entries(purchase, EntryType.REFUND_REVERSAL).get()
        assert (reversal.minutes, reversal.amount_cents) == (
            -purchase.minutes,
            -purchase.amount_cents,
        )
    _assert_student_balances_equal_their_lots(
        purchases, {purchase.pk: purchase.minutes for purchase in purchases}
    )
    assert set(
        StudentAccountBalance.objects.filter(
            student__in=[p.student_id for p in purchases]
        ).values_list("remaining_minutes", flat=True)
    ) == {0}
    _assert_ledger_clean()


@pytest.mark.parametrize("seed", [7, 2024])
def test_interleaved_reports_with_a_half_refund_end_completed_with_half_the_minutes_back(seed):
    purchases = _refund_scenario(seed=seed, refunded_share=0.5)

    taken_back = {}
    for purchase in purchases:
        assert purchase.status == Status.COMPLETED, f"seed {seed}"
        assert purchase.refunded_amount_cents == purchase.amount_cents // 2
        assert _entries(purchase, EntryType.CREDIT).count() == 1
        reversal = _entries(purchase, EntryType.REFUND_REVERSAL).get()
        assert (reversal.minutes, reversal.amount_cents) == (
            -(purchase.minutes // 2),
            -(purchase.amount_cents // 2),
        )
        unused = _entries(purchase, EntryType.CREDIT).aggregate(total=Sum("minutes"))["total"]
        assert unused + reversal.minutes == purchase.minutes - purchase.minutes // 2
        taken_back[purchase.pk] = purchase.minutes // 2
    _assert_student_balances_equal_their_lots(purchases, taken_back)
    _assert_ledger_clean()


def test_simultaneous_success_events_with_different_ids_for_one_intent_credit_once():
    purchase = PurchaseTransactionFactory()
    documents = [_succeeded(purchase) for _ in range(12)]
    assert len({document["id"] for document in documents}) == 12

    results = values_or_raise(
        run_together([_delivery(*_signed(document)) for document in documents])
    )

    assert [status for status, _ in results] == [200] * 12
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    credit = _entries(purchase, EntryType.CREDIT).get()
    assert credit.stripe_event_id in {document["id"] for document in documents}
    assert StudentAccountBalance.objects.get(student=purchase.student).remaining_minutes == (
        purchase.minutes
    )
    logs = WebhookEventLog.objects.filter(stripe_event_id__in=[d["id"] for d in documents])
    assert list(logs.order_by().values_list("status", flat=True).distinct()) == [
        WebhookEventLog.Status.PROCESSED
    ]
    assert logs.count() == 12
    _assert_ledger_clean()


def test_a_duplicate_arriving_while_the_first_attempt_crashes_is_processed_and_kept(monkeypatch):
    purchase = PurchaseTransactionFactory()
    document = _succeeded(purchase)
    deliver = _delivery(*_signed(document))
    real_completion = payments.purchase_completion_signals_send
    crash_lock = threading.Lock()
    crash = {"happened": False, "duplicate_was_waiting": False}

    def completion_crashing_the_first_time(**kwargs):
        # Fault injection: the first processing attempt dies after its locks and credit, once
        # the other delivery is seen waiting on a lock (so the crash happens under it).
        with crash_lock:
            first_call, crash["happened"] = not crash["happened"], True
        if first_call:
            crash["duplicate_was_waiting"] = wait_for_lock_waiter(timeout_seconds=20)
            raise RuntimeError("injected crash in the first processing attempt")
        return real_completion(**kwargs)

    monkeypatch.setattr(
        payments, "purchase_completion_signals_send", completion_crashing_the_first_time
    )

    results = values_or_raise(run_together([deliver, deliver]))

    assert crash["duplicate_was_waiting"], "the second delivery never waited behind the first"
    by_status = dict(results)
    assert sorted(by_status) == [200, 500]
    assert by_status[500]["error"]["code"] == "processing_failed"
    assert (by_status[200]["status"], by_status[200]["duplicate"]) == ("PROCESSED", False)
    log = WebhookEventLog.objects.get(stripe_event_id=document["id"])
    assert log.status == WebhookEventLog.Status.PROCESSED  # the crash did not overwrite it
    assert (log.error_message, log.next_retry_at, log.delivery_count) == ("", None, 2)
    assert log.processed_at is not None
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert _entries(purchase, EntryType.CREDIT).count() == 1
    assert StudentAccountBalance.objects.get(student=purchase.student).remaining_minutes == (
        purchase.minutes
    )
    _assert_ledger_clean()


def test_cumulative_refunds_racing_the_success_take_back_the_largest_total_once():
    purchase = PurchaseTransactionFactory(plan=PricingPlanFactory(minutes=600, price_cents=14000))
    refunds = [
        event("charge.refunded", charge_object(purchase, amount_refunded=total))
        for total in (3500, 7000, 10500)
    ]
    documents = [_succeeded(purchase), *refunds]
    deliveries = [_delivery(*_signed(document)) for document in documents] * 3

    results = values_or_raise(run_together(deliveries))

    assert [status for status, _ in results] == [200] * 12
    purchase.refresh_from_db()
    assert (purchase.status, purchase.refunded_amount_cents) == (Status.COMPLETED, 10500)
    assert _entries(purchase, EntryType.CREDIT).count() == 1
    reversals = _entries(purchase, EntryType.REFUND_REVERSAL).aggregate(
        minutes=Sum("minutes"), cents=Sum("amount_cents")
    )
    assert reversals == {"minutes": -450, "cents": -10500}
    balance = StudentAccountBalance.objects.get(student=purchase.student)
    assert (balance.remaining_minutes, balance.refunded_cents) == (150, 10500)
    _assert_ledger_clean()


def test_stripe_redeliveries_racing_retry_runs_after_a_crash_credit_once(monkeypatch):
    purchase = PurchaseTransactionFactory()
    document = _succeeded(purchase)
    deliver = _delivery(*_signed(document))
    real_completion = payments.purchase_completion_signals_send

    def crash(**kwargs):  # fault injection: the first delivery's processing dies
        raise RuntimeError("injected crash")

    monkeypatch.setattr(payments, "purchase_completion_signals_send", crash)
    assert deliver()[0] == 500
    monkeypatch.setattr(payments, "purchase_completion_signals_send", real_completion)
    log = WebhookEventLog.objects.get(stripe_event_id=document["id"])
    assert log.status == WebhookEventLog.Status.FAILED

    def retry_run():
        return webhook_events_retry(failed_only=True)

    outcomes = values_or_raise(run_together([deliver] * 5 + [retry_run] * 3))

    deliveries, runs = outcomes[:5], outcomes[5:]
    assert [status for status, _ in deliveries] == [200] * 5
    assert all(run.failed == 0 for run in runs)
    receipts = [receipt for run in runs for receipt in run.receipts]
    assert {receipt.status for receipt in receipts} <= {WebhookEventLog.Status.PROCESSED}
    log.refresh_from_db()
    assert (log.status, log.error_message, log.next_retry_at) == ("PROCESSED", "", None)
    assert log.delivery_count == 6
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert _entries(purchase, EntryType.CREDIT).count() == 1
    _assert_ledger_clean()
