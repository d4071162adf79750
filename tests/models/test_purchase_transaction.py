from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from finances.models import PurchaseTransaction
from tests.factories import (
    PricingPlanFactory,
    PurchaseTransactionFactory,
    SubscriptionPlanFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

Status = PurchaseTransaction.Status
PAID_AT = datetime(2025, 1, 31, 14, 30, tzinfo=UTC)


def package_purchase(**overrides) -> PurchaseTransaction:
    """An unsaved 45-day package purchase."""
    return PurchaseTransactionFactory.build(
        student=UserFactory(),
        plan=PricingPlanFactory(validity_days=45),
        stripe_payment_intent_id=None,
        **overrides,
    )


def subscription_purchase(**overrides) -> PurchaseTransaction:
    return PurchaseTransactionFactory.build(
        student=UserFactory(),
        plan=SubscriptionPlanFactory(),
        stripe_payment_intent_id=None,
        **overrides,
    )


# --- Database constraints -------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"amount_cents": 0}, id="free"),
        pytest.param({"minutes": 0}, id="no-minutes"),
        pytest.param({"refunded_amount_cents": 14001}, id="refund-above-amount"),
        pytest.param({"refunded_amount_cents": -1}, id="negative-refund"),
        pytest.param({"status": "BOGUS"}, id="unknown-status"),
        pytest.param({"status": Status.COMPLETED}, id="completed-without-dates"),
        pytest.param({"status": Status.REFUNDED, "paid_at": PAID_AT}, id="refunded-without-expiry"),
        pytest.param({"expires_at": PAID_AT}, id="expiry-without-payment"),
        pytest.param({"paid_at": PAID_AT, "expires_at": PAID_AT}, id="expiry-at-payment"),
        pytest.param(
            {"paid_at": PAID_AT, "expires_at": PAID_AT - timedelta(days=1)},
            id="expiry-before-payment",
        ),
    ],
)
def test_the_database_refuses_an_inconsistent_purchase(overrides):
    purchase = package_purchase(**overrides)

    with pytest.raises(IntegrityError), transaction.atomic():
        purchase.save()

    assert not PurchaseTransaction.objects.exists()


def test_the_database_refuses_two_purchases_with_one_payment_intent():
    PurchaseTransactionFactory(stripe_payment_intent_id="pi_shared")

    with pytest.raises(IntegrityError), transaction.atomic():
        PurchaseTransactionFactory(stripe_payment_intent_id="pi_shared")


def test_many_purchases_may_still_wait_for_their_payment_intent():
    PurchaseTransactionFactory(stripe_payment_intent_id=None)
    PurchaseTransactionFactory(stripe_payment_intent_id=None)

    assert PurchaseTransaction.objects.filter(stripe_payment_intent_id=None).count() == 2


def test_a_refund_of_exactly_the_amount_is_stored():
    purchase = PurchaseTransactionFactory(refunded_amount_cents=14000)

    purchase.refresh_from_db()
    assert purchase.refunded_amount_cents == purchase.amount_cents


# --- clean() --------------------------------------------------------------------------


def clean_errors(purchase) -> set[str]:
    with pytest.raises(ValidationError) as raised:
        purchase.clean()
    return set(raised.value.message_dict)


def test_a_pending_purchase_is_clean():
    package_purchase().clean()
    subscription_purchase().clean()


def test_a_package_purchase_needs_its_validity():
    assert clean_errors(package_purchase(validity_days=None)) == {"validity_days"}


def test_a_subscription_purchase_needs_its_billing_period():
    assert clean_errors(subscription_purchase(billing_period=None)) == {"billing_period"}


def test_a_paid_package_expires_after_its_validity_from_the_payment():
    purchase = package_purchase(
        status=Status.COMPLETED, paid_at=PAID_AT, expires_at=PAID_AT + timedelta(days=45)
    )

    purchase.clean()


@pytest.mark.parametrize(
    "expires_at",
    [
        PAID_AT + timedelta(days=44),
        PAID_AT + timedelta(days=45, seconds=1),
        datetime(2025, 2, 28, 14, 30, tzinfo=UTC),  # a month: a subscription's rule
    ],
)
def test_a_paid_package_with_any_other_expiry_is_not_clean(expires_at):
    purchase = package_purchase(status=Status.COMPLETED, paid_at=PAID_AT, expires_at=expires_at)

    assert clean_errors(purchase) == {"expires_at"}


def test_a_paid_subscription_expires_one_month_after_the_payment_clamped_to_month_end():
    # Paid 31 January 2025: one month later is 28 February.
    purchase = subscription_purchase(
        status=Status.REFUNDED,
        paid_at=PAID_AT,
        expires_at=datetime(2025, 2, 28, 14, 30, tzinfo=UTC),
    )

    purchase.clean()


@pytest.mark.parametrize(
    "expires_at",
    [PAID_AT + timedelta(days=30), datetime(2025, 3, 3, 14, 30, tzinfo=UTC)],
)
def test_a_paid_subscription_with_a_day_count_expiry_is_not_clean(expires_at):
    purchase = subscription_purchase(
        status=Status.COMPLETED, paid_at=PAID_AT, expires_at=expires_at
    )

    assert clean_errors(purchase) == {"expires_at"}


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.REFUNDED])
def test_a_paid_purchase_needs_a_payment_time_and_an_expiry(status):
    assert clean_errors(package_purchase(status=status)) == {"expires_at"}
    assert clean_errors(package_purchase(status=status, paid_at=PAID_AT)) == {"expires_at"}


def test_an_unpaid_purchase_cannot_expire():
    assert clean_errors(package_purchase(expires_at=PAID_AT)) == {"expires_at"}


def test_a_negative_amount_is_not_clean():
    assert clean_errors(package_purchase(amount_cents=-100)) == {"amount_cents"}


def test_refunding_more_than_was_paid_is_not_clean():
    assert clean_errors(package_purchase(refunded_amount_cents=14001)) == {"refunded_amount_cents"}


def test_a_negative_refund_is_not_valid():
    purchase = package_purchase(refunded_amount_cents=-1)

    with pytest.raises(ValidationError) as raised:
        purchase.full_clean()

    assert "refunded_amount_cents" in raised.value.message_dict


# --- is_expired -----------------------------------------------------------------------


def test_a_purchase_expires_at_its_expiry_instant():
    expires_at = PAID_AT + timedelta(days=45)
    purchase = package_purchase(status=Status.COMPLETED, paid_at=PAID_AT, expires_at=expires_at)

    with time_machine.travel(expires_at - timedelta(seconds=1), tick=False):
        assert not purchase.is_expired
    with time_machine.travel(expires_at, tick=False):
        assert purchase.is_expired
    with time_machine.travel(expires_at + timedelta(days=300), tick=False):
        assert purchase.is_expired


def test_an_unpaid_purchase_never_expires():
    with time_machine.travel(datetime(2999, 1, 1, tzinfo=UTC), tick=False):
        assert not package_purchase().is_expired


# --- mark_completed -------------------------------------------------------------------


def test_completing_a_pending_package_sets_payment_and_expiry_in_the_database():
    purchase = PurchaseTransactionFactory(failure_reason="earlier card declined")

    assert purchase.mark_completed(paid_at=PAID_AT, from_statuses=[Status.PENDING])

    stored = PurchaseTransaction.objects.get(pk=purchase.pk)
    assert stored.status == Status.COMPLETED
    assert stored.paid_at == PAID_AT
    assert stored.expires_at == PAID_AT + timedelta(days=45)
    assert stored.failure_reason == ""
    assert (purchase.status, purchase.paid_at, purchase.expires_at) == (
        stored.status,
        stored.paid_at,
        stored.expires_at,
    )
    stored.full_clean()


def test_completing_a_subscription_sets_the_expiry_one_month_later():
    purchase = PurchaseTransactionFactory(plan=SubscriptionPlanFactory())

    assert purchase.mark_completed(paid_at=PAID_AT, from_statuses=[Status.PENDING])

    purchase.refresh_from_db()
    assert purchase.expires_at == datetime(2025, 2, 28, 14, 30, tzinfo=UTC)


def test_completing_does_nothing_when_the_status_has_moved_on():
    purchase = PurchaseTransactionFactory()
    PurchaseTransaction.objects.filter(pk=purchase.pk).update(
        status=Status.FAILED, failure_reason="declined"
    )

    # The in-memory object still says PENDING; the database decides.
    assert not purchase.mark_completed(paid_at=PAID_AT, from_statuses=[Status.PENDING])

    stored = PurchaseTransaction.objects.get(pk=purchase.pk)
    assert (stored.status, stored.paid_at, stored.expires_at) == (Status.FAILED, None, None)
    assert stored.failure_reason == "declined"
    assert (purchase.status, purchase.paid_at) == (Status.PENDING, None)


def test_completing_twice_succeeds_only_once():
    purchase = PurchaseTransactionFactory()
    assert purchase.mark_completed(paid_at=PAID_AT, from_statuses=[Status.PENDING])

    later = PAID_AT + timedelta(days=3)
    assert not purchase.mark_completed(paid_at=later, from_statuses=[Status.PENDING])

    purchase.refresh_from_db()
    assert purchase.paid_at == PAID_AT


# --- Properties -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "amount_cents", "hours", "amount"),
    [(600, 14000, "10.00", "140.00"), (45, 1050, "0.75", "10.50"), (1, 1, "0.02", "0.01")],
)
def test_hours_and_amount_are_decimal_strings(minutes, amount_cents, hours, amount):
    purchase = package_purchase(minutes=minutes, amount_cents=amount_cents)

    assert (purchase.hours, purchase.amount) == (hours, amount)
