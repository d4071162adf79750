"""However long the history, one reconciliation run asks Stripe about at most
RECONCILE_MAX_PURCHASES_PER_RUN purchases (one PaymentIntent read each, and its refunds
when paid); successive runs take the least recently checked ones, so every purchase of
the window is covered in turn."""

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from finances import stripe_gateway
from finances.services.reconciliation import payments_reconcile
from tests.support.reconciliation_helpers import created_at, initiated_purchase, quiet_localstripe

pytestmark = pytest.mark.django_db
__all__ = ["quiet_localstripe"]


def _run_counting_stripe_reads(moment) -> tuple[set, int]:
    """The purchases a run at `moment` asked about, and its PaymentIntent reads at Stripe."""
    with (
        time_machine.travel(moment, tick=True),
        mock.patch.object(
            stripe_gateway,
            "payment_intent_retrieve",
            wraps=stripe_gateway.payment_intent_retrieve,
        ) as reads,
    ):
        run = payments_reconcile(older_than=timedelta(minutes=30), events_since=None)
    assert run.errors == []
    return {result.purchase_id for result in run.purchases}, reads.call_count


def test_a_run_reads_at_most_the_bound_and_the_runs_cover_every_purchase_in_turn(
    quiet_localstripe, settings
):
    settings.RECONCILE_MAX_PURCHASES_PER_RUN = 2
    history = [
        created_at(initiated_purchase(), timezone.now() - timedelta(hours=30 + hours))
        for hours in range(6)
    ]
    for purchase in history:
        quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    start = timezone.now()

    runs = [_run_counting_stripe_reads(start + timedelta(minutes=minute)) for minute in range(4)]

    assert [reads for _, reads in runs] == [2, 2, 2, 2]
    covered = set().union(*(checked for checked, _ in runs[:3]))
    assert covered == {purchase.pk for purchase in history}
    assert runs[3][0] <= covered  # the fourth starts over with the least recently checked
