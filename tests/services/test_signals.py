"""Outbound signals: sent once the change is committed, with ids and numbers only."""

import contextlib
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from finances import signals
from finances.services.expiry import packages_expire
from finances.services.expiry_reminders import expiry_reminders_send
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, UserFactory
from tests.support.operations_helpers import paid_package
from tests.support.payments import purchase_pay, purchase_refund
from tests.support.stripe_events import dispute_object, event, post_event

pytestmark = pytest.mark.django_db

ALL = [
    "purchase_completed",
    "hours_credited",
    "purchase_refunded",
    "purchase_disputed",
    "hours_expiring_soon",
    "hours_expired",
]


class Rollback(Exception):
    pass


@pytest.fixture
def received():
    """(signal name, payload) of every outbound signal, in order."""
    log: list[tuple[str, dict]] = []
    receivers = {}
    for name in ALL:

        def receiver(sender, signal, _name=name, **payload):
            assert sender == "finances"
            log.append((_name, payload))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield log
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def _purchase():
    return PurchaseTransactionFactory(
        student=UserFactory(), plan=PricingPlanFactory(minutes=600, price_cents=14000)
    )


def test_a_completed_purchase_sends_completed_then_credited_after_commit(
    received, django_capture_on_commit_callbacks
):
    purchase = _purchase()

    with django_capture_on_commit_callbacks(execute=True):
        purchase_pay(purchase)
        assert received == []  # not before the commit

    assert received == [
        (
            "purchase_completed",
            {
                "purchase_transaction_id": str(purchase.pk),
                "student_id": purchase.student_id,
                "plan_id": purchase.plan_id,
                "amount_cents": 14000,
                "currency": purchase.currency,
                "minutes": 600,
            },
        ),
        (
            "hours_credited",
            {
                "purchase_transaction_id": str(purchase.pk),
                "student_id": purchase.student_id,
                "minutes": 600,
                "expires_at": purchase.expires_at.isoformat(),
            },
        ),
    ]


def test_a_rolled_back_completion_sends_nothing(received, django_capture_on_commit_callbacks):
    purchase = _purchase()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        contextlib.suppress(Rollback),
        transaction.atomic(),
    ):
        purchase_pay(purchase)
        raise Rollback

    assert received == []
    assert callbacks == []


def test_a_second_delivery_of_the_same_success_sends_nothing_more(
    received, django_capture_on_commit_callbacks
):
    purchase = _purchase()
    with django_capture_on_commit_callbacks(execute=True):
        purchase_pay(purchase)
        purchase_pay(purchase)

    assert [name for name, _ in received] == ["purchase_completed", "hours_credited"]


def test_a_full_refund_sends_refunded_with_the_minutes_taken_back(
    received, django_capture_on_commit_callbacks
):
    purchase = _purchase()
    purchase_pay(purchase)

    with django_capture_on_commit_callbacks(execute=True):
        purchase_refund(purchase, refunded_total_cents=7000)
        purchase_refund(purchase, refunded_total_cents=14000)

    assert received == [
        (
            "purchase_refunded",
            {
                "purchase_transaction_id": str(purchase.pk),
                "student_id": purchase.student_id,
                "refunded_total_cents": total,
                "amount_cents": 14000,
                "minutes_taken_back": 300,
                "fully_refunded": total == 14000,
            },
        )
        for total in (7000, 14000)
    ]


def test_an_expired_lot_sends_expired_once(received, django_capture_on_commit_callbacks):
    package = paid_package(
        UserFactory(), minutes=600, validity_days=30, paid_at=timezone.now() - timedelta(days=40)
    )

    with django_capture_on_commit_callbacks(execute=True):
        packages_expire()
        packages_expire()

    assert received == [
        (
            "hours_expired",
            {
                "purchase_transaction_id": str(package.pk),
                "student_id": package.student_id,
                "minutes": 600,
            },
        )
    ]


def test_a_lot_expiring_soon_sends_expiring_soon_once(
    received, django_capture_on_commit_callbacks, settings
):
    settings.EXPIRY_REMINDER_DAYS = 3
    package = paid_package(
        UserFactory(), minutes=600, validity_days=30, paid_at=timezone.now() - timedelta(days=28)
    )

    with django_capture_on_commit_callbacks(execute=True):
        expiry_reminders_send()
        expiry_reminders_send()

    assert received == [
        (
            "hours_expiring_soon",
            {
                "purchase_transaction_id": str(package.pk),
                "student_id": package.student_id,
                "minutes": 600,
                "expires_at": package.expires_at.isoformat(),
            },
        )
    ]


def test_a_failing_receiver_is_logged_and_does_not_undo_the_payment(
    django_capture_on_commit_callbacks, caplog
):
    def broken(sender, **payload):
        raise RuntimeError("the platform is down")

    signals.purchase_completed.connect(broken)
    purchase = _purchase()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            purchase_pay(purchase)
    finally:
        signals.purchase_completed.disconnect(broken)

    assert purchase.status == purchase.Status.COMPLETED
    assert "signal.receiver_failed" in [record.getMessage() for record in caplog.records]


def _dispute(api_client, purchase, kind: str, status: str) -> None:
    document = event(
        f"charge.dispute.{kind}", dispute_object(purchase, dispute_id="dp_sig", status=status)
    )
    assert post_event(api_client, document).status_code == 200


def test_a_dispute_sends_disputed_once_per_outcome(
    received, django_capture_on_commit_callbacks, api_client
):
    purchase = _purchase()
    purchase_pay(purchase)

    with django_capture_on_commit_callbacks(execute=True):
        _dispute(api_client, purchase, "created", "needs_response")
        _dispute(api_client, purchase, "updated", "under_review")  # still open: nothing new
        _dispute(api_client, purchase, "closed", "lost")
        _dispute(api_client, purchase, "closed", "lost")  # a duplicate: nothing new

    disputed = [payload for name, payload in received if name == "purchase_disputed"]
    assert [(payload["outcome"], payload["status"]) for payload in disputed] == [
        ("OPEN", "needs_response"),
        ("LOST", "lost"),
    ]
    assert disputed[0] == {
        "purchase_transaction_id": str(purchase.pk),
        "student_id": purchase.student_id,
        "dispute_id": "dp_sig",
        "amount_cents": 14000,
        "currency": "EUR",
        "status": "needs_response",
        "outcome": "OPEN",
        "held_minutes": 600,
        "lost_minutes": 0,
    }
    assert (disputed[1]["held_minutes"], disputed[1]["lost_minutes"]) == (0, 600)
