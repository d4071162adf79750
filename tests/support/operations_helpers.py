"""Builders and assertions for the operations tests: hours lots, ledger checks, threads
and management commands run as an operator runs them (real exit codes)."""

import threading
import traceback
from dataclasses import dataclass
from datetime import datetime

import time_machine
from django.core.management import ManagementUtility
from django.db import connection

from finances.models import HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance
from finances.services.ledger import lot_totals
from finances.services.ledger_verification import ledger_verify
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, SubscriptionPlanFactory
from tests.support.payments import purchase_pay

EntryType = HoursLedgerEntry.EntryType
THREAD_TIMEOUT_SECONDS = 120.0


def paid_package(
    student,
    *,
    minutes: int = 600,
    price_cents: int = 14000,
    validity_days: int = 45,
    paid_at: datetime | None = None,
) -> PurchaseTransaction:
    """A COMPLETED package purchase credited through the real payment service, paid at
    `paid_at` (so it expires `validity_days` later)."""
    plan = PricingPlanFactory(minutes=minutes, price_cents=price_cents, validity_days=validity_days)
    return _paid(PurchaseTransactionFactory(student=student, plan=plan), paid_at)


def paid_subscription(student, *, paid_at: datetime | None = None) -> PurchaseTransaction:
    """A COMPLETED monthly subscription period (900 minutes), paid at `paid_at`."""
    plan = SubscriptionPlanFactory()
    return _paid(PurchaseTransactionFactory(student=student, plan=plan), paid_at)


def _paid(purchase: PurchaseTransaction, paid_at: datetime | None) -> PurchaseTransaction:
    if paid_at is None:
        purchase_pay(purchase)
    else:
        with time_machine.travel(paid_at, tick=False):
            purchase_pay(purchase)
    assert purchase.status == PurchaseTransaction.Status.COMPLETED
    return purchase


def unused_minutes(purchase: PurchaseTransaction) -> int:
    return lot_totals(purchase_transaction_id=purchase.pk)["unused_minutes"]


def lot_entries(purchase: PurchaseTransaction) -> list[tuple[str, int]]:
    """(entry type, minutes) of the lot's ledger entries, oldest first."""
    return list(
        HoursLedgerEntry.objects.filter(purchase_transaction=purchase)
        .order_by("id")
        .values_list("entry_type", "minutes")
    )


def balance_of(student) -> StudentAccountBalance:
    return StudentAccountBalance.objects.get(student=student)


def assert_ledger_clean() -> None:
    verification = ledger_verify()
    assert verification.problems == [], verification.problems


@dataclass
class ThreadResult:
    value: object = None
    error: BaseException | None = None


def run_in_threads(functions: list) -> list[ThreadResult]:
    """Runs each function in its own thread (own DB connection, closed at the end), all
    released at once by a barrier; returns each one's value or exception."""
    barrier = threading.Barrier(len(functions))
    results = [ThreadResult() for _ in functions]

    def target(function, result: ThreadResult) -> None:
        try:
            barrier.wait(timeout=THREAD_TIMEOUT_SECONDS)
            result.value = function()
        except BaseException as error:  # handed back to the test
            result.error = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=target, args=(function, result))
        for function, result in zip(functions, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    return results


@dataclass(frozen=True)
class CommandRun:
    exit_code: int
    stdout: str
    stderr: str


def run_manage(capsys, *arguments: str) -> CommandRun:
    """`manage.py <arguments>` in this process, as from a shell: the real exit code and
    output. Django closes the DB connections afterwards, so use it in transactional tests
    (`django_db(transaction=True)`)."""
    capsys.readouterr()
    crash = ""
    try:
        # What `execute_from_command_line` does, minus django.setup(): re-running it
        # would rebuild the logging handlers around pytest's captured stderr.
        argv = ["manage.py", *arguments]
        ManagementUtility(argv).fetch_command(arguments[0]).run_from_argv(argv)
        exit_code = 0
    except SystemExit as exited:
        exit_code = exited.code if isinstance(exited.code, int) else 1
    except Exception:  # what the interpreter does with an uncaught exception
        exit_code, crash = 1, traceback.format_exc()
    captured = capsys.readouterr()
    return CommandRun(exit_code, captured.out, captured.err + crash)
