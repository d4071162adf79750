"""What the worker runs on schedule: thin wrappers around the same services the management
commands call, returning a one-line summary (kept as the job's result in the admin).

A wrapper raises when the run needs a person (ledger drift, reconciliation errors): the
job is then a failure in the admin ("Failed tasks"), with the error, and the schedule's
last success stops advancing, which `/health/` and `/metrics/` flag once overdue.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from finances.services.checkouts import abandoned_checkouts_expire
from finances.services.expiry import packages_expire
from finances.services.expiry_reminders import expiry_reminders_send
from finances.services.ledger_verification import ledger_verify
from finances.services.reconciliation import payments_reconcile
from finances.services.webhook_retries import webhook_events_retry

logger = logging.getLogger(__name__)

RECONCILE_LOOKBACK = timedelta(days=30)  # as `manage.py reconcile_payments`


class ScheduledJobError(RuntimeError):
    """A scheduled run found something an operator must look at."""


def webhook_events_retry_task() -> str:
    run = webhook_events_retry()
    counts = run.outcome_counts
    return (
        f"Retried {len(run.receipts)} of {run.selected} events: "
        f"{counts.get('PROCESSED', 0)} processed, {counts.get('IGNORED', 0)} ignored, "
        f"{counts.get('FAILED', 0)} failed, {len(run.skipped)} skipped."
    )


def payments_reconcile_task() -> str:
    run = payments_reconcile(created_from=timezone.now() - RECONCILE_LOOKBACK)
    changed = sum(1 for item in run.purchases if item.changed)
    summary = (
        f"Checked {len(run.purchases)} purchases: {changed} repaired, {len(run.errors)} errors; "
        f"{len(run.events_missing)} missing events processed."
    )
    if run.errors:
        raise ScheduledJobError(f"{summary} First error: {run.errors[0]}")
    return summary


def abandoned_checkouts_expire_task() -> str:
    run = abandoned_checkouts_expire()
    summary = f"{len(run.results)} abandoned checkouts handled, {len(run.errors)} errors."
    if run.errors:
        raise ScheduledJobError(f"{summary} First error: {run.errors[0].message}")
    return summary


def packages_expire_task() -> str:
    run = packages_expire()
    return f"{len(run.lots)} lots expired, {run.minutes_expired} minutes."


def expiry_reminders_task() -> str:
    run = expiry_reminders_send()
    return f"{run.lots} lots expiring soon, {len(run.enqueued)} reminders enqueued."


def ledger_verify_task() -> str:
    result = ledger_verify()
    summary = (
        f"{result.students_checked} students, {result.lots_checked} lots checked: "
        f"{len(result.problems)} problems."
    )
    if not result.is_clean:
        logger.error(
            "ledger.drift",
            extra={"problems": len(result.problems), "first_problem": result.problems[0]},
        )
        raise ScheduledJobError(f"Ledger drift. {summary} First: {result.problems[0]}")
    return summary
