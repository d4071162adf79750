"""Reconciliation stops asking Stripe about the same open purchases on every run: an open
purchase is asked about again after min(age / 4, 6 h), and a run does bounded work
(RECONCILE_MAX_PURCHASES_PER_RUN), open purchases and the least recently checked first."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from finances.models import PurchaseTransaction
from finances.services.reconciliation import payments_reconcile
from tests.support.payments import purchase_pay
from tests.support.reconciliation_helpers import created_at, initiated_purchase, quiet_localstripe

pytestmark = pytest.mark.django_db
__all__ = ["quiet_localstripe"]


def _checked_at(moment) -> set:
    """The purchases a run at `moment` asks Stripe about."""
    with time_machine.travel(moment, tick=True):
        run = payments_reconcile(older_than=timedelta(minutes=30), events_since=None)
    assert run.errors == []
    return {result.purchase_id for result in run.purchases}


def _aged(hours: float) -> PurchaseTransaction:
    return created_at(initiated_purchase(), timezone.now() - timedelta(hours=hours))


def test_an_open_purchase_two_hours_old_is_asked_again_after_half_an_hour(quiet_localstripe):
    purchase = _aged(2)
    start = timezone.now()

    assert _checked_at(start) == {purchase.pk}
    assert _checked_at(start + timedelta(minutes=20)) == set()
    assert _checked_at(start + timedelta(minutes=31)) == {purchase.pk}
    purchase.refresh_from_db()
    assert purchase.last_reconciled_at >= start + timedelta(minutes=31)


def test_a_day_old_open_purchase_is_asked_at_most_every_six_hours(quiet_localstripe):
    purchase = _aged(30)
    start = timezone.now()

    assert _checked_at(start) == {purchase.pk}
    assert _checked_at(start + timedelta(hours=5, minutes=59)) == set()
    assert _checked_at(start + timedelta(hours=6, minutes=1)) == {purchase.pk}


def test_completed_purchases_are_still_checked_on_every_run_for_refunds(quiet_localstripe):
    paid = _aged(2)
    quiet_localstripe.pay(paid.stripe_payment_intent_id)
    start = timezone.now()

    assert _checked_at(start) == {paid.pk}
    paid.refresh_from_db()
    assert paid.status == PurchaseTransaction.Status.COMPLETED
    assert _checked_at(start + timedelta(minutes=1)) == {paid.pk}


def test_a_run_checks_at_most_the_configured_number_least_recently_checked_first(
    quiet_localstripe, settings
):
    settings.RECONCILE_MAX_PURCHASES_PER_RUN = 2
    oldest, middle, newest = _aged(30), _aged(20), _aged(10)
    start = timezone.now()

    first = _checked_at(start)
    second = _checked_at(start + timedelta(minutes=1))

    assert first == {oldest.pk, middle.pk}
    assert second == {newest.pk}  # the two checked first are backing off


def test_open_purchases_come_before_completed_ones_when_the_run_is_bounded(
    quiet_localstripe, settings
):
    settings.RECONCILE_MAX_PURCHASES_PER_RUN = 1
    paid = _aged(30)
    purchase_pay(paid)  # completed, never checked by reconciliation yet
    open_purchase = _aged(2)

    assert _checked_at(timezone.now()) == {open_purchase.pk}
