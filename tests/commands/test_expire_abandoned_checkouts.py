"""`manage.py expire_abandoned_checkouts` against localstripe (no webhook registered)."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from finances.models import PurchaseTransaction
from tests.factories import PurchaseTransactionFactory
from tests.support.operations_helpers import run_manage
from tests.support.reconciliation_helpers import initiated_purchase, quiet_localstripe

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
__all__ = ["quiet_localstripe"]


def _run_later(*arguments: str, hours: int = 25) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with time_machine.travel(timezone.now() + timedelta(hours=hours), tick=True):
        call_command("expire_abandoned_checkouts", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _status(purchase) -> str:
    purchase.refresh_from_db()
    return purchase.status


def test_the_command_cancels_and_credits_and_says_so(quiet_localstripe):
    abandoned, paid = initiated_purchase(), initiated_purchase()
    quiet_localstripe.pay(paid.stripe_payment_intent_id)

    output, errors = _run_later()

    lines = output.splitlines()
    assert (
        f"{abandoned.pk} (Stripe: canceled): Checkout abandoned: not paid within 24 h; "
        f"PaymentIntent {abandoned.stripe_payment_intent_id} cancelled at Stripe."
    ) in lines
    assert f"{paid.pk} (Stripe: succeeded): Payment completed and hours credited." in lines
    assert lines[-1] == (
        "Checked 2 abandoned checkouts: 1 cancelled, 1 credited, 0 closed as failed, "
        "0 still processing, 0 unchanged, 0 errors."
    )
    assert errors == ""
    assert (_status(abandoned), _status(paid)) == (Status.CANCELLED, Status.COMPLETED)


def test_dry_run_says_what_it_would_do_and_does_nothing(quiet_localstripe):
    purchase = initiated_purchase()

    output, _ = _run_later("--dry-run")

    assert output.splitlines() == [
        f"[dry run] {purchase.pk} (Stripe: requires_payment_method): Would cancel.",
        "[dry run] Checked 1 abandoned checkouts: 1 cancelled, 0 credited, 0 closed as "
        "failed, 0 still processing, 0 unchanged, 0 errors.",
    ]
    assert _status(purchase) == Status.PENDING
    assert quiet_localstripe.retrieve(purchase.stripe_payment_intent_id).status == (
        "requires_payment_method"
    )


def test_older_than_hours_overrides_the_setting(quiet_localstripe):
    purchase = initiated_purchase()

    default_output, _ = _run_later(hours=3)
    three_hours_output, _ = _run_later("--older-than-hours", "2", hours=3)

    assert default_output.startswith("Checked 0 abandoned checkouts")
    assert three_hours_output.splitlines()[-1].startswith(
        "Checked 1 abandoned checkouts: 1 cancelled"
    )
    assert _status(purchase) == Status.CANCELLED


def test_an_older_than_below_one_hour_is_refused():
    with pytest.raises(CommandError, match="at least 1"):
        _run_later("--older-than-hours", "0")


def test_stripe_unreachable_fails_the_command_with_each_error():
    purchase = PurchaseTransactionFactory()

    with pytest.raises(CommandError) as raised:
        _run_later()

    assert str(raised.value).endswith("0 unchanged, 1 errors.")
    assert _status(purchase) == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_clean_run_exits_0_and_an_unreachable_stripe_exits_1(
    capsys, quiet_localstripe, settings
):
    initiated_purchase()
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        clean = run_manage(capsys, "expire_abandoned_checkouts")
        PurchaseTransactionFactory(created_at=timezone.now() - timedelta(hours=30))
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"
        failing = run_manage(capsys, "expire_abandoned_checkouts")

    assert clean.exit_code == 0, clean.stderr
    assert "1 cancelled" in clean.stdout
    assert failing.exit_code == 1
    assert "CommandError: Checked 1 abandoned checkouts" in failing.stderr
