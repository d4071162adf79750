"""The chaos storm's money that leaves: disputes won and lost, a refund that fails, and
lessons recorded then reversed on the same students while the storm runs; and the
verdict's checks of them."""

import time

from django.db import InterfaceError, OperationalError, connection

from accounts.models import User
from accounts.services import user_create
from finances.models import Dispute, HoursLedgerEntry, PurchaseTransaction
from finances.services.consumption import (
    InsufficientHours,
    lesson_consumption_record,
    lesson_consumption_reverse,
)
from tests.support.stripe_events import charge_object, dispute_object, event, refund_object

Status = PurchaseTransaction.Status
# Lessons recorded and then reversed while the storm runs, on the students of these fates.
LESSON_FATES = ("refunded", "partially_refunded", "dispute_won", "dispute_lost", "refund_failed")
LESSON_MINUTES = 30
REFUND_FAILURE_DELAY_SECONDS = 5  # Stripe reports a refund's failure after the refund


def money_leaving_events(purchase, fate: str, *, index: int, seed: int) -> list[dict]:
    """Disputes (won, lost) and a refund that fails: Stripe's side is that nothing was
    refunded (localstripe never refunds these), so reconciliation agrees."""
    if fate == "refund_failed":
        refund = refund_object(
            purchase, amount=purchase.amount_cents, refund_id=f"re_{seed}_{index}"
        )
        return [
            event(
                "charge.refunded", charge_object(purchase, amount_refunded=purchase.amount_cents)
            ),
            event("refund.failed", refund, created=int(time.time()) + REFUND_FAILURE_DELAY_SECONDS),
        ]
    if fate not in ("dispute_won", "dispute_lost"):
        return []
    dispute_id = f"dp_{seed}_{index}"
    outcome = "won" if fate == "dispute_won" else "lost"
    steps = [
        ("created", "needs_response"),
        ("funds_withdrawn", "needs_response"),
        ("updated", "under_review"),
        ("closed", outcome),
    ]
    if outcome == "won":
        steps.append(("funds_reinstated", "won"))
    return [
        event(
            f"charge.dispute.{kind}",
            dispute_object(purchase, dispute_id=dispute_id, status=status),
        )
        for kind, status in steps
    ]


def lessons_plan(planned: list, *, seed: int) -> list:
    """For each student with a lot whose money leaves: a lesson, then its reversal, run
    alongside the storm (the service, in this process, on its own connection)."""
    students = sorted({item.purchase.student_id for item in planned if item.fate in LESSON_FATES})
    recorder = _lesson_recorder()
    return [
        _lesson_then_reversal(recorder, student_id, f"chaos-{seed}-{number}")
        for number, student_id in enumerate(students * 2)
    ]


def _lesson_recorder() -> User:
    """Staff record the storm's lessons (staff may for any student)."""
    email = "chaos-lesson-recorder@example.invalid"
    return User.objects.filter(email=email).first() or user_create(
        email=email, name="Chaos lesson recorder", is_staff=True
    )


def _retrying(function):
    """The fault thread kills database connections: start again on a new one."""
    for _attempt in range(20):
        try:
            return function()
        except (OperationalError, InterfaceError):
            connection.close()
            time.sleep(0.05)
    return function()


def _lesson_then_reversal(recorder: User, student_id: int, reference: str):
    def run() -> str:
        try:
            try:
                _retrying(
                    lambda: lesson_consumption_record(
                        actor=recorder,
                        student_id=student_id,
                        minutes=LESSON_MINUTES,
                        lesson_reference=reference,
                    )
                )
            except InsufficientHours:
                return "no hours"
            time.sleep(0.05)
            _retrying(
                lambda: lesson_consumption_reverse(
                    actor=recorder, student_id=student_id, lesson_reference=reference
                )
            )
            return "reversed"
        finally:
            connection.close()

    return run


def money_leaving_verdict(verdict, planned) -> None:
    """Lessons all reversed; no usable minute on a refunded lot or one whose dispute was
    lost; every dispute closed with its hold released or made final."""
    entries = HoursLedgerEntry.objects.filter(lesson_reference__startswith="chaos-")
    EntryType = HoursLedgerEntry.EntryType
    debited = set(entries.filter(entry_type=EntryType.DEBIT).values_list("lesson_reference"))
    reversed_ = set(
        entries.filter(entry_type=EntryType.DEBIT_REVERSAL).values_list("lesson_reference")
    )
    verdict.lessons_recorded = len(debited)
    verdict.lessons_left_unreversed = len(debited - reversed_)
    for item in planned:
        lost = item.purchase.disputes.filter(outcome=Dispute.Outcome.LOST).exists()
        if item.purchase.status == Status.REFUNDED or lost:
            verdict.usable_minutes_on_refunded_or_lost_lots += max(
                0,
                sum(
                    HoursLedgerEntry.objects.filter(purchase_transaction=item.purchase).values_list(
                        "minutes", flat=True
                    )
                ),
            )
    verdict.holds_not_released_or_final = (
        Dispute.objects.filter(outcome=Dispute.Outcome.OPEN).count()
        + Dispute.objects.filter(held_minutes__gt=0).count()
    )
    expected_disputes = sum(1 for item in planned if item.fate.startswith("dispute_"))
    if Dispute.objects.count() != expected_disputes:
        verdict.holds_not_released_or_final += 1
