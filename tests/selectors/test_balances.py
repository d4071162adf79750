"""Hours lots and the balance summary: soonest expiry first, expired lots not usable."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from finances.selectors.balances import (
    balance_summary_get,
    hours_lots_active,
    hours_lots_with_unused_minutes,
    student_balance_get,
)
from tests.factories import SubscriptionPlanFactory, UserFactory
from tests.support.balance_lot_helpers import lot_consume, lot_paid_at
from tests.support.payments import purchase_refund

pytestmark = pytest.mark.django_db
NOW = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def lots():
    """One student's lots (packages are valid 45 days, the subscription one month)."""
    student = UserFactory()
    made = {
        "expired": lot_paid_at(NOW - 50 * DAY, student=student),  # expired 5 days ago
        "soon": lot_paid_at(NOW - 40 * DAY, student=student),  # expires in 5 days
        "later": lot_paid_at(NOW - 10 * DAY, student=student),  # expires in 35 days
        "subscription": lot_paid_at(
            NOW - 2 * DAY, student=student, plan=SubscriptionPlanFactory()
        ),  # expires 2024-10-18, in 28 days
        "used_up": lot_paid_at(NOW - 20 * DAY, student=student),
    }
    lot_consume(made["used_up"], 600, "all-of-it")
    lot_consume(made["later"], 90, "one-lesson")
    return made


@pytest.fixture(autouse=True)
def frozen(lots):
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def ids(found) -> list:
    return [lot.purchase_transaction_id for lot in found]


def test_lots_with_unused_minutes_come_soonest_expiry_first(lots):
    found = hours_lots_with_unused_minutes(student_id=lots["soon"].student_id)

    assert ids(found) == [lots[name].pk for name in ("expired", "soon", "subscription", "later")]
    assert [lot.unused_minutes for lot in found] == [600, 600, 900, 510]
    assert found[2].expires_at == datetime(2024, 10, 18, 12, 0, tzinfo=UTC)


def test_a_used_up_lot_is_not_listed(lots):
    found = hours_lots_with_unused_minutes(student_id=lots["soon"].student_id)

    assert lots["used_up"].pk not in ids(found)


def test_expired_lots_are_not_active(lots):
    active = hours_lots_active(student_id=lots["soon"].student_id)

    assert ids(active) == [lots[name].pk for name in ("soon", "subscription", "later")]


def test_a_lot_is_no_longer_active_at_its_expiry_time(lots):
    expiry = lots["soon"].expires_at

    just_before = hours_lots_active(
        student_id=lots["soon"].student_id, now=expiry - timedelta(seconds=1)
    )
    at_expiry = hours_lots_active(student_id=lots["soon"].student_id, now=expiry)

    assert lots["soon"].pk in ids(just_before)
    assert lots["soon"].pk not in ids(at_expiry)


def test_the_summary_adds_up_the_active_lots_and_lists_what_expires_soon(lots):
    summary = balance_summary_get(student_id=lots["soon"].student_id, expiring_within_days=7)

    assert summary.available_minutes == 600 + 900 + 510
    assert ids(summary.active_packages) == [
        lots[name].pk for name in ("soon", "subscription", "later")
    ]
    assert ids(summary.upcoming_expirations) == [lots["soon"].pk]
    assert summary.expiring_within_days == 7
    # The ledger totals still include the expired lot until the expiry run closes it.
    assert summary.totals.remaining_minutes == 600 + 600 + 900 + 510


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, []),
        (5, ["soon"]),  # expires exactly 5 days from now: included
        (27, ["soon"]),
        (28, ["soon", "subscription"]),
        (35, ["soon", "subscription", "later"]),
    ],
)
def test_upcoming_expirations_follow_the_horizon(lots, days, expected):
    summary = balance_summary_get(student_id=lots["soon"].student_id, expiring_within_days=days)

    assert ids(summary.upcoming_expirations) == [lots[name].pk for name in expected]


def test_a_refund_reduces_the_lots_unused_minutes(lots):
    purchase_refund(lots["soon"], refunded_total_cents=7000)

    found = hours_lots_active(student_id=lots["soon"].student_id)

    assert found[0].purchase_transaction_id == lots["soon"].pk
    assert found[0].unused_minutes == 300


def test_another_students_lots_are_not_included(lots):
    stranger = UserFactory()

    summary = balance_summary_get(student_id=stranger.pk, expiring_within_days=30)

    assert summary.active_packages == []
    assert summary.available_minutes == 0
    assert student_balance_get(student_id=stranger.pk).remaining_minutes == 0
