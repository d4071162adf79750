"""Lessons, lesson reversals and refunds of the same lot at the same moment on PostgreSQL:
the documented lock order (finances/locks.py) leaves no cycle, so nothing deadlocks."""

import json

import pytest
from django.db.utils import OperationalError
from django.test import Client

from finances.models import PurchaseTransaction
from finances.services.consumption import (
    InsufficientHours,
    lesson_consumption_record,
    lesson_consumption_reverse,
)
from finances.services.ledger_verification import ledger_verify
from tests.factories import UserFactory
from tests.support.concurrent_threads import run_together
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import paid_package
from tests.support.stripe_events import dispute_object, event, post_event, refund_object, sign
from tests.support.webhook_pipeline_helpers import refunded_event

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

ROUNDS = 4
LESSONS = 10
REFUNDS = 8


def _lesson(actor, student_id: int, reference: str):
    def record():
        try:
            return lesson_consumption_record(
                actor=actor, student_id=student_id, minutes=20, lesson_reference=reference
            )
        except InsufficientHours:
            return "insufficient"

    return record


def _reversal(actor, student_id: int, reference: str):
    def reverse():
        return lesson_consumption_reverse(
            actor=actor, student_id=student_id, lesson_reference=reference
        )

    return reverse


def _refund_delivery(purchase, total_cents: int):
    body = json.dumps(refunded_event(purchase, refunded_total_cents=total_cents))
    signature = sign(body)

    def deliver() -> int:
        return post_event(Client(), body, signature=signature).status_code

    return deliver


def _is_deadlock(error: BaseException | None) -> bool:
    return isinstance(error, OperationalError) and "deadlock" in str(error).lower()


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_lessons_reversals_and_rising_refunds_of_one_lot_never_deadlock(round_number):
    student = UserFactory()
    teacher = lesson_recorder()
    purchase = paid_package(student, minutes=600, price_cents=16000)
    for index in range(3):  # lessons the reversals cancel while refunds arrive
        lesson_consumption_record(
            actor=teacher, student_id=student.pk, minutes=30, lesson_reference=f"early-{index}"
        )
    work = [
        _lesson(teacher, student.pk, f"lesson-{round_number}-{index}") for index in range(LESSONS)
    ]
    work += [_reversal(teacher, student.pk, f"early-{index}") for index in range(3)]
    work += [_refund_delivery(purchase, 2000 * (index + 1)) for index in range(REFUNDS)]

    outcomes = run_together(work)

    assert [o.error for o in outcomes if _is_deadlock(o.error)] == []
    assert [o.error for o in outcomes if o.error is not None] == []
    refund_statuses = [outcome.value for outcome in outcomes[-REFUNDS:]]
    assert refund_statuses == [200] * REFUNDS
    purchase.refresh_from_db()
    assert purchase.refunded_amount_cents == 16000
    assert purchase.status == PurchaseTransaction.Status.REFUNDED
    verification = ledger_verify()
    assert verification.problems == []
    assert verification.is_clean


def _signed_delivery(document: dict):
    body = json.dumps(document)
    signature = sign(body)

    def deliver() -> int:
        return post_event(Client(), body, signature=signature).status_code

    return deliver


def test_lessons_reversals_disputes_and_refund_failures_of_one_lot_never_deadlock():
    student = UserFactory()
    teacher = lesson_recorder()
    purchase = paid_package(student, minutes=600, price_cents=16000)
    purchase.refresh_from_db()
    for index in range(3):
        lesson_consumption_record(
            actor=teacher, student_id=student.pk, minutes=30, lesson_reference=f"early-{index}"
        )
    documents = [
        event("charge.dispute.created", dispute_object(purchase, dispute_id="dp_race")),
        event("charge.dispute.funds_withdrawn", dispute_object(purchase, dispute_id="dp_race")),
        event(
            "charge.dispute.closed",
            dispute_object(purchase, dispute_id="dp_race", status="lost", amount=8000),
        ),
        refunded_event(purchase, refunded_total_cents=4000),
        event("refund.failed", refund_object(purchase, amount=4000, refund_id="re_race")),
    ]
    work = [_lesson(teacher, student.pk, f"lesson-{index}") for index in range(LESSONS)]
    work += [_reversal(teacher, student.pk, f"early-{index}") for index in range(3)]
    work += [_signed_delivery(document) for document in documents]

    outcomes = run_together(work)

    assert [o.error for o in outcomes if o.error is not None] == []
    assert [outcome.value for outcome in outcomes[-len(documents) :]] == [200] * len(documents)
    verification = ledger_verify()
    assert verification.problems == []
