"""Each row lock of finances/locks.py really serializes on PostgreSQL (it is not a no-op).

Two kinds of proof per lock:
- blocking: A takes the lock and holds it; B asking for it with a 200 ms lock_timeout is
  refused; B asking without a timeout is seen waiting in pg_stat_activity, gets the lock
  only after A committed, and then reads what A wrote;
- no lost update: threads read a counter under the lock, pause, and write it back + 1;
  the counter ends at the number of threads only if they really took turns.
"""

import threading
import time

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from finances.locks import purchase_transaction_lock, student_balance_lock
from finances.models import PurchaseTransaction, StudentAccountBalance
from tests.factories import PurchaseTransactionFactory, UserFactory
from tests.support.concurrent_threads import (
    BackgroundThread,
    backend_pid,
    run_together,
    values_or_raise,
    wait_for_lock_waiter,
)

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

WAIT_LIMIT_SECONDS = 30
THREADS = 10


def _refused_within_a_short_lock_timeout(take_lock) -> bool:
    """True when PostgreSQL gave up waiting for the lock (lock_timeout, not another error)."""
    cause = None
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            take_lock()
    except OperationalError as error:
        cause = error.__cause__
    return isinstance(cause, psycopg.errors.LockNotAvailable)


def _second_taker_waits_for_the_first(*, take_lock_first, change_under_lock, take_lock_second):
    """Runs the A/B scenario; returns what B's lock returned once it got it."""
    steps: list[str] = []
    steps_lock = threading.Lock()
    first_holds, first_may_commit, second_ready = (threading.Event() for _ in range(3))
    second_pid: list[int] = []

    def step(name: str) -> None:
        with steps_lock:
            steps.append(name)

    def first() -> None:
        with transaction.atomic():
            take_lock_first()
            change_under_lock()
            step("A locked")
            first_holds.set()
            assert first_may_commit.wait(WAIT_LIMIT_SECONDS)
            step("A commits")

    def second():
        assert first_holds.wait(WAIT_LIMIT_SECONDS)
        refused = _refused_within_a_short_lock_timeout(take_lock_second)
        step("B refused" if refused else "B got the lock while A held it")
        second_pid.append(backend_pid())
        second_ready.set()
        with transaction.atomic():
            row = take_lock_second()
            step("B locked")
            return row

    holder, contender = BackgroundThread(first), BackgroundThread(second)
    try:
        assert second_ready.wait(WAIT_LIMIT_SECONDS), "B never got to ask for the lock"
        second_was_seen_waiting = wait_for_lock_waiter(
            pid=second_pid[0], give_up=lambda: not contender.is_alive()
        )
    finally:
        first_may_commit.set()
    holder.result()
    row_seen_by_second = contender.result()

    assert second_was_seen_waiting, f"B never waited on a lock; steps: {steps}"
    assert steps == ["A locked", "B refused", "A commits", "B locked"]
    return row_seen_by_second


@pytest.mark.parametrize("second_looks_up_by", ["payment_intent_id", "transaction_id"])
def test_the_purchase_lock_makes_a_second_taker_wait_until_the_first_commits(second_looks_up_by):
    purchase = PurchaseTransactionFactory()
    lookup = (
        {"payment_intent_id": purchase.stripe_payment_intent_id}
        if second_looks_up_by == "payment_intent_id"
        else {"transaction_id": purchase.pk}
    )

    seen = _second_taker_waits_for_the_first(
        take_lock_first=lambda: purchase_transaction_lock(
            payment_intent_id=purchase.stripe_payment_intent_id
        ),
        change_under_lock=lambda: PurchaseTransaction.objects.filter(pk=purchase.pk).update(
            status=PurchaseTransaction.Status.CANCELLED
        ),
        take_lock_second=lambda: purchase_transaction_lock(**lookup),
    )

    assert seen.pk == purchase.pk
    assert seen.status == PurchaseTransaction.Status.CANCELLED


def _balance_add_minutes(student_id: int, minutes: int) -> None:
    StudentAccountBalance.objects.filter(student_id=student_id).update(
        purchased_minutes=minutes, remaining_minutes=minutes
    )


def _student_without_a_balance_row():
    """A user whose balance row does not exist (e.g. one loaded from a fixture, where the
    post_save receiver does not run): the lock helper must create it."""
    student = UserFactory()
    StudentAccountBalance.objects.filter(student=student).delete()
    return student


def test_the_balance_lock_makes_a_second_taker_wait_until_the_first_commits():
    student = UserFactory()  # its balance row is created with the user

    seen = _second_taker_waits_for_the_first(
        take_lock_first=lambda: student_balance_lock(student_id=student.pk),
        change_under_lock=lambda: _balance_add_minutes(student.pk, 60),
        take_lock_second=lambda: student_balance_lock(student_id=student.pk),
    )

    assert (seen.purchased_minutes, seen.remaining_minutes) == (60, 60)


def test_the_balance_lock_also_serializes_when_the_first_taker_creates_the_row():
    student = _student_without_a_balance_row()

    seen = _second_taker_waits_for_the_first(
        take_lock_first=lambda: student_balance_lock(student_id=student.pk),
        change_under_lock=lambda: _balance_add_minutes(student.pk, 60),
        take_lock_second=lambda: student_balance_lock(student_id=student.pk),
    )

    assert (seen.purchased_minutes, seen.remaining_minutes) == (60, 60)
    assert StudentAccountBalance.objects.filter(student=student).count() == 1


def _increment_under_lock(take_lock, read, write):
    def increment() -> None:
        with transaction.atomic():
            value = read(take_lock())
            time.sleep(0.02)  # widen the read-modify-write window
            write(value + 1)

    return increment


def test_read_modify_writes_under_the_purchase_lock_lose_no_update():
    purchase = PurchaseTransactionFactory()
    rows = PurchaseTransaction.objects.filter(pk=purchase.pk)
    increment = _increment_under_lock(
        lambda: purchase_transaction_lock(payment_intent_id=purchase.stripe_payment_intent_id),
        lambda row: row.refunded_amount_cents,
        lambda value: rows.update(refunded_amount_cents=value),
    )

    values_or_raise(run_together([increment] * THREADS))

    assert rows.get().refunded_amount_cents == THREADS


def test_concurrent_balance_locks_on_a_student_without_a_balance_create_exactly_one_row():
    student = _student_without_a_balance_row()
    rows = StudentAccountBalance.objects.filter(student=student)
    increment = _increment_under_lock(
        lambda: student_balance_lock(student_id=student.pk),
        lambda row: row.purchased_minutes,
        lambda value: rows.update(purchased_minutes=value, remaining_minutes=value),
    )

    values_or_raise(run_together([increment] * THREADS))

    assert rows.count() == 1
    balance = rows.get()
    assert (balance.purchased_minutes, balance.remaining_minutes) == (THREADS, THREADS)
