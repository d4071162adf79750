"""`manage.py retry_webhook_events [--ids ...] [--failed] [--type T] [--dry-run] [--limit N]`."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from tests.factories import PurchaseTransactionFactory
from tests.support.operations_helpers import run_manage
from tests.support.stripe_events import event, payment_intent_object
from tests.support.webhook_retry_helpers import deliver, failed_event, purchase_not_saved_yet

pytestmark = pytest.mark.django_db

Status = WebhookEventLog.Status


def _run(*arguments: str) -> str:
    out = StringIO()
    call_command("retry_webhook_events", *arguments, stdout=out)
    return out.getvalue()


def _status(event_log) -> tuple[str, int]:
    event_log.refresh_from_db()
    return event_log.status, event_log.retry_count


def _credits(purchase) -> int:
    return HoursLedgerEntry.objects.filter(
        purchase_transaction_id=purchase.pk, entry_type=HoursLedgerEntry.EntryType.CREDIT
    ).count()


@pytest.fixture
def recoverable():
    """A failed event whose cause is gone; its backoff has not elapsed yet."""
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    purchase.save()
    return purchase, event_log


@pytest.fixture
def after_backoff(time_machine):
    def travel():
        time_machine.move_to(timezone.now() + timedelta(minutes=2), tick=False)

    return travel


def test_the_command_retries_due_events_and_prints_each_one_and_a_summary(
    recoverable, after_backoff
):
    purchase, event_log = recoverable
    after_backoff()

    output = _run()

    assert output.splitlines() == [
        f"{event_log.stripe_event_id}: PROCESSED Payment completed and hours credited.",
        "Retried 1 of 1 selected events: 1 processed, 0 ignored, 0 failed, "
        "0 skipped (busy elsewhere).",
    ]
    assert _status(event_log) == (Status.PROCESSED, 1)
    assert _credits(purchase) == 1


def test_nothing_is_retried_before_the_backoff(recoverable):
    _, event_log = recoverable

    output = _run()

    assert output.splitlines() == [
        "Retried 0 of 0 selected events: 0 processed, 0 ignored, 0 failed, "
        "0 skipped (busy elsewhere)."
    ]
    assert _status(event_log) == (Status.FAILED, 0)


def test_a_retry_that_fails_again_makes_the_command_fail_with_the_summary(after_backoff):
    event_log = failed_event(purchase_not_saved_yet())
    after_backoff()

    with pytest.raises(CommandError) as raised:
        _run()

    assert str(raised.value) == (
        "Retried 1 of 1 selected events: 0 processed, 0 ignored, 1 failed, "
        "0 skipped (busy elsewhere)."
    )
    assert raised.value.returncode == 1
    assert _status(event_log) == (Status.FAILED, 1)


def test_failed_retries_them_now_whatever_their_backoff(recoverable):
    purchase, event_log = recoverable

    output = _run("--failed")

    assert "Retried 1 of 1 selected events: 1 processed" in output
    assert _status(event_log) == (Status.PROCESSED, 1)
    assert _credits(purchase) == 1


def test_ids_retry_exactly_the_named_events_even_exhausted_ones():
    chosen = [purchase_not_saved_yet() for _ in range(3)]
    logs = [failed_event(purchase) for purchase in chosen]
    WebhookEventLog.objects.filter(pk=logs[0].pk).update(retry_count=5, next_retry_at=None)
    for purchase in chosen:
        purchase.save()

    output = _run("--ids", f"{logs[0].stripe_event_id}, {logs[2].pk}")

    assert "Retried 2 of 2 selected events: 2 processed" in output
    assert [_status(log) for log in logs] == [
        (Status.PROCESSED, 6),
        (Status.FAILED, 0),
        (Status.PROCESSED, 1),
    ]


def test_type_retries_only_events_of_that_type():
    paid, cancelled = purchase_not_saved_yet(), purchase_not_saved_yet()
    succeeded_log = failed_event(paid, "payment_intent.succeeded")
    canceled_log = failed_event(cancelled, "payment_intent.canceled")
    paid.save()
    cancelled.save()

    output = _run("--failed", "--type", "payment_intent.canceled")

    assert output.splitlines()[0].startswith(f"{canceled_log.stripe_event_id}: PROCESSED")
    assert _status(canceled_log) == (Status.PROCESSED, 1)
    assert _status(succeeded_log) == (Status.FAILED, 0)
    cancelled.refresh_from_db()
    assert cancelled.status == PurchaseTransaction.Status.CANCELLED


def test_a_dry_run_lists_what_would_be_retried_and_changes_nothing(recoverable):
    purchase, event_log = recoverable

    output = _run("--failed", "--dry-run")

    assert output.splitlines() == [
        f"would retry {event_log.stripe_event_id}",
        "Dry run: 1 events would be retried.",
    ]
    assert _status(event_log) == (Status.FAILED, 0)
    assert _credits(purchase) == 0


def test_limit_caps_the_events_of_one_run():
    purchases = [purchase_not_saved_yet() for _ in range(3)]
    logs = [failed_event(purchase) for purchase in purchases]
    for purchase in purchases:
        purchase.save()

    output = _run("--failed", "--limit", "2")

    assert "Retried 2 of 2 selected events" in output
    assert sorted(_status(log)[0] for log in logs) == [
        Status.FAILED,
        Status.PROCESSED,
        Status.PROCESSED,
    ]


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_failing_retry_exits_1_and_a_successful_one_exits_0(capsys):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)

    failing = run_manage(capsys, "retry_webhook_events", "--failed")
    purchase.save()
    succeeding = run_manage(capsys, "retry_webhook_events", "--ids", event_log.stripe_event_id)

    assert failing.exit_code == 1
    assert "CommandError: Retried 1 of 1 selected events: 0 processed, 0 ignored, 1 failed" in (
        failing.stderr
    )
    assert succeeding.exit_code == 0, succeeding.stderr
    assert "Retried 1 of 1 selected events: 1 processed" in succeeding.stdout
    assert _status(event_log) == (Status.PROCESSED, 2)
    assert _credits(purchase) == 1


def _flagged_event() -> WebhookEventLog:
    """Paid amount differs from the purchase: FAILED, waiting for a person (HTTP 200)."""
    purchase = PurchaseTransactionFactory()
    document = event(
        "payment_intent.succeeded",
        payment_intent_object(purchase, amount=purchase.amount_cents - 1),
    )
    assert deliver(document).status_code == 200
    return WebhookEventLog.objects.get(stripe_event_id=document["id"])


def _malformed_event() -> WebhookEventLog:
    """A well-signed event whose PaymentIntent is unreadable: FAILED with HTTP 200."""
    document = event("payment_intent.succeeded", {"id": "pi_broken", "amount": "a lot"})
    assert deliver(document).status_code == 200
    return WebhookEventLog.objects.get(stripe_event_id=document["id"])


@pytest.mark.parametrize("make_event", [_flagged_event, _malformed_event])
def test_a_retry_that_leaves_the_event_failed_makes_the_command_fail(make_event):
    """The summary counts the event as failed; cron must see it in the exit code too."""
    event_log = make_event()

    with pytest.raises(CommandError) as raised:
        _run("--ids", event_log.stripe_event_id)

    assert "0 processed, 0 ignored, 1 failed" in str(raised.value)
    assert _status(event_log)[0] == Status.FAILED
