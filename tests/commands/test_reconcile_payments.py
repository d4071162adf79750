"""`manage.py reconcile_payments` against localstripe (no webhook registered there)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from tests.factories import PurchaseTransactionFactory
from tests.support.operations_helpers import assert_ledger_clean, lot_entries, run_manage
from tests.support.reconciliation_helpers import (
    created_at,
    initiated_purchase,
    quiet_localstripe,
)

pytestmark = pytest.mark.django_db

Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
__all__ = ["quiet_localstripe"]


def _run(*arguments: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("reconcile_payments", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _hour_ago(purchase):
    return created_at(purchase, timezone.now() - timedelta(hours=1))


def _status(purchase) -> str:
    purchase.refresh_from_db()
    return purchase.status


def test_the_command_repairs_missed_payments_and_prints_what_it_changed(quiet_localstripe):
    paid = _hour_ago(initiated_purchase())
    cancelled = _hour_ago(initiated_purchase())
    untouched = _hour_ago(initiated_purchase())
    quiet_localstripe.pay(paid.stripe_payment_intent_id)
    quiet_localstripe.cancel(cancelled.stripe_payment_intent_id)

    output, errors = _run("--events-since-hours", "0")

    lines = output.splitlines()
    assert f"{paid.pk} (Stripe: succeeded): Payment completed and hours credited." in lines
    assert f"{cancelled.pk} (Stripe: canceled): Purchase is now CANCELLED." in lines
    assert not any(str(untouched.pk) in line for line in lines)
    assert lines[-1] == (
        "Checked 3 purchases: 2 repaired, 0 errors; 0 Stripe events listed, "
        "0 missing ones processed."
    )
    assert errors == ""
    assert (_status(paid), _status(cancelled), _status(untouched)) == (
        Status.COMPLETED,
        Status.CANCELLED,
        Status.PENDING,
    )
    assert lot_entries(paid) == [(EntryType.CREDIT, 600)]


def test_a_second_run_repairs_nothing(quiet_localstripe):
    paid = _hour_ago(initiated_purchase())
    quiet_localstripe.pay(paid.stripe_payment_intent_id)
    _run()
    entries_before = HoursLedgerEntry.objects.count()

    output, _ = _run()

    assert output.splitlines() == [
        "Checked 1 purchases: 0 repaired, 0 errors; 1 Stripe events listed, "
        "0 missing ones processed."
    ]
    assert HoursLedgerEntry.objects.count() == entries_before
    assert_ledger_clean()


def test_older_than_minutes_leaves_recent_purchases_alone(quiet_localstripe):
    old = created_at(initiated_purchase(), timezone.now() - timedelta(minutes=20))
    recent = created_at(initiated_purchase(), timezone.now() - timedelta(minutes=5))
    for purchase in (old, recent):
        quiet_localstripe.pay(purchase.stripe_payment_intent_id)

    default_output, _ = _run("--events-since-hours", "0")
    ten_minutes_output, _ = _run("--events-since-hours", "0", "--older-than-minutes", "10")

    assert default_output.startswith("Checked 0 purchases")  # default: 30 minutes
    assert ten_minutes_output.splitlines()[-1].startswith("Checked 1 purchases: 1 repaired")
    assert (_status(old), _status(recent)) == (Status.COMPLETED, Status.PENDING)


def test_open_only_skips_completed_purchases_and_their_refunds(quiet_localstripe):
    purchase = _hour_ago(initiated_purchase())
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    _run("--events-since-hours", "0")
    quiet_localstripe.refund(purchase.stripe_payment_intent_id, amount_cents=7000)

    open_only, _ = _run("--events-since-hours", "0", "--open-only")
    assert open_only.startswith("Checked 0 purchases")
    assert purchase.refunded_amount_cents == 0

    everything, _ = _run("--events-since-hours", "0")

    assert "Refund of 7000 cents applied." in everything
    purchase.refresh_from_db()
    assert (purchase.status, purchase.refunded_amount_cents) == (Status.COMPLETED, 7000)
    assert lot_entries(purchase)[-1] == (EntryType.REFUND_REVERSAL, -300)


def test_since_and_until_limit_the_creation_dates_checked(quiet_localstripe):
    now = timezone.now()
    too_old = created_at(initiated_purchase(), now - timedelta(days=10))
    in_range = created_at(initiated_purchase(), now - timedelta(days=5))
    too_new = created_at(initiated_purchase(), now - timedelta(days=1))
    for purchase in (too_old, in_range, too_new):
        quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    since = (now - timedelta(days=7)).date().isoformat()
    until = (now - timedelta(days=3)).date().isoformat()

    output, _ = _run("--events-since-hours", "0", "--since", since, "--until", until)

    assert output.splitlines()[-1].startswith("Checked 1 purchases: 1 repaired")
    assert [_status(p) for p in (too_old, in_range, too_new)] == [
        Status.PENDING,
        Status.COMPLETED,
        Status.PENDING,
    ]


def test_by_default_only_the_last_30_days_are_checked(quiet_localstripe):
    ancient = created_at(initiated_purchase(), timezone.now() - timedelta(days=31))
    quiet_localstripe.pay(ancient.stripe_payment_intent_id)

    output, _ = _run("--events-since-hours", "0")

    assert output.startswith("Checked 0 purchases")
    assert _status(ancient) == Status.PENDING


def test_the_events_backfill_processes_the_events_missing_from_the_log(quiet_localstripe):
    recent = initiated_purchase()  # too recent for the purchase check
    quiet_localstripe.pay(recent.stripe_payment_intent_id)
    (stripe_event,) = quiet_localstripe.events()

    output, _ = _run("--events-since-hours", "1")

    assert output.splitlines()[-1] == (
        "Checked 0 purchases: 0 repaired, 0 errors; 1 Stripe events listed, "
        "1 missing ones processed."
    )
    event_log = WebhookEventLog.objects.get(stripe_event_id=stripe_event.id)
    assert (event_log.source, event_log.status) == (
        WebhookEventLog.Source.RECONCILIATION,
        WebhookEventLog.Status.PROCESSED,
    )
    assert _status(recent) == Status.COMPLETED
    assert lot_entries(recent) == [(EntryType.CREDIT, 600)]


def test_stripe_unreachable_makes_the_command_fail_with_each_error():
    purchase = created_at(PurchaseTransactionFactory(), timezone.now() - timedelta(hours=1))
    err = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("reconcile_payments", stdout=StringIO(), stderr=err)

    assert str(raised.value) == (
        "Checked 1 purchases: 0 repaired, 2 errors; 0 Stripe events listed, "
        "0 missing ones processed."
    )
    assert f"{purchase.pk}: " in err.getvalue()
    assert "Listing Stripe events failed" in err.getvalue()
    assert _status(purchase) == Status.PENDING


def test_a_since_that_is_not_a_date_is_refused():
    with pytest.raises(CommandError, match="ISO 8601"):
        _run("--since", "last week")


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_unreachable_stripe_exits_1(capsys):
    created_at(PurchaseTransactionFactory(), timezone.now() - timedelta(hours=1))

    result = run_manage(capsys, "reconcile_payments", "--events-since-hours", "0")

    assert result.exit_code == 1
    assert "CommandError: Checked 1 purchases: 0 repaired, 1 errors" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_clean_run_exits_0(capsys, quiet_localstripe):
    purchase = _hour_ago(initiated_purchase())
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)

    result = run_manage(capsys, "reconcile_payments")

    assert result.exit_code == 0, result.stderr
    assert "Checked 1 purchases: 1 repaired, 0 errors" in result.stdout
    assert _status(purchase) == Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_bad_date_exits_non_zero_with_a_message_not_a_traceback(capsys):
    result = run_manage(capsys, "reconcile_payments", "--since", "last week")

    assert result.exit_code != 0
    assert "last week" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_max_purchases_bounds_the_run_open_purchases_first(quiet_localstripe):
    paid = _hour_ago(initiated_purchase())
    quiet_localstripe.pay(paid.stripe_payment_intent_id)
    _run("--events-since-hours", "0")  # paid is COMPLETED now; checked on every run
    still_open = _hour_ago(initiated_purchase())

    output, _ = _run("--events-since-hours", "0", "--max-purchases", "1")

    assert output.splitlines()[-1].startswith("Checked 1 purchases")
    still_open.refresh_from_db()
    assert still_open.last_reconciled_at is not None
