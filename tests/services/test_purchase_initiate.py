import pytest
from django.conf import settings
from django.db import transaction

from accounts.models import User
from core.errors import ApplicationError
from finances.errors import PaymentProviderUnavailable
from finances.models import PurchaseTransaction
from finances.services.purchases import client_secret_hash, purchase_initiate
from tests.factories import GuardianStudentLinkFactory, PricingPlanFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_guest_purchase_creates_a_pending_purchase_and_a_matching_payment_intent(localstripe):
    plan = PricingPlanFactory(minutes=600, price_cents=14000)

    initiation = purchase_initiate(
        plan_id=plan.pk, buyer=None, student_name="Ana Silva", student_email="ana@example.com"
    )

    purchase = PurchaseTransaction.objects.get(pk=initiation.purchase.pk)
    assert purchase.status == PurchaseTransaction.Status.PENDING
    assert (purchase.minutes, purchase.amount_cents, purchase.currency) == (600, 14000, "EUR")
    intent = localstripe.retrieve(purchase.stripe_payment_intent_id)
    assert intent.amount == 14000
    assert intent.currency == "eur"
    assert intent.client_secret == initiation.client_secret
    assert purchase.client_secret_hash == client_secret_hash(initiation.client_secret)


def test_the_payment_intent_metadata_carries_our_ids_and_no_personal_data(localstripe):
    plan = PricingPlanFactory()

    initiation = purchase_initiate(
        plan_id=plan.pk, buyer=None, student_name="Ana Silva", student_email="ana@example.com"
    )

    purchase = initiation.purchase
    metadata = localstripe.retrieve(purchase.stripe_payment_intent_id).metadata.to_dict()
    assert metadata == {
        "application": settings.STRIPE_METADATA_APPLICATION,
        "transaction_id": str(purchase.pk),
        "plan_id": str(plan.pk),
        "student_id": str(purchase.student_id),
    }
    assert "ana" not in str(metadata).lower()


def test_a_guest_gets_a_guest_account_without_a_usable_password(localstripe):
    plan = PricingPlanFactory()

    purchase_initiate(
        plan_id=plan.pk, buyer=None, student_name="Ana", student_email="ana@example.com"
    )

    guest = User.objects.get(email="ana@example.com")
    assert guest.is_guest
    assert not guest.has_usable_password()


def test_a_guest_purchase_for_an_existing_account_credits_that_account_unchanged(localstripe):
    existing = UserFactory(email="ana@example.com", name="Ana Original")
    plan = PricingPlanFactory()

    initiation = purchase_initiate(
        plan_id=plan.pk, buyer=None, student_name="Someone Else", student_email="ANA@example.com"
    )

    existing.refresh_from_db()
    assert initiation.purchase.student_id == existing.pk
    assert existing.name == "Ana Original"
    assert not existing.is_guest


def test_an_authenticated_user_buys_for_themselves(localstripe):
    buyer = UserFactory()

    initiation = purchase_initiate(plan_id=PricingPlanFactory().pk, buyer=buyer)

    assert initiation.purchase.student_id == buyer.pk
    assert initiation.purchase.purchased_by_id is None


def test_a_guardian_buys_for_a_linked_student(localstripe):
    link = GuardianStudentLinkFactory()

    initiation = purchase_initiate(
        plan_id=PricingPlanFactory().pk,
        buyer=link.guardian,
        student_name="Kid",
        student_email=link.student.email,
    )

    assert initiation.purchase.student_id == link.student_id
    assert initiation.purchase.purchased_by_id == link.guardian_id
    assert initiation.purchase.guardian_link_id == link.pk


def test_an_authenticated_user_cannot_buy_for_an_unlinked_student(localstripe):
    stranger = UserFactory()

    with pytest.raises(ApplicationError) as raised:
        purchase_initiate(
            plan_id=PricingPlanFactory().pk,
            buyer=UserFactory(),
            student_name="x",
            student_email=stranger.email,
        )

    assert raised.value.fields == {
        "student_info": ["You can buy for yourself or for a student linked to you."]
    }
    assert not PurchaseTransaction.objects.exists()


def test_an_inactive_plan_cannot_be_bought(localstripe):
    plan = PricingPlanFactory(is_active=False)

    with pytest.raises(ApplicationError) as raised:
        purchase_initiate(plan_id=plan.pk, buyer=UserFactory())

    assert "plan_id" in raised.value.fields
    assert not PurchaseTransaction.objects.exists()


def test_the_price_is_a_snapshot_of_the_plan_when_the_purchase_started(localstripe):
    plan = PricingPlanFactory(price_cents=14000, minutes=600)
    initiation = purchase_initiate(plan_id=plan.pk, buyer=UserFactory())

    plan.price_cents = 99
    plan.minutes = 1
    plan.save()

    initiation.purchase.refresh_from_db()
    assert (initiation.purchase.amount_cents, initiation.purchase.minutes) == (14000, 600)


def test_stripe_being_unreachable_leaves_the_purchase_failed_with_its_reason():
    plan = PricingPlanFactory()  # settings point Stripe at a closed port

    with pytest.raises(PaymentProviderUnavailable):
        purchase_initiate(plan_id=plan.pk, buyer=UserFactory())

    purchase = PurchaseTransaction.objects.get()
    assert purchase.status == PurchaseTransaction.Status.FAILED
    assert purchase.failure_reason.startswith("payment_provider_unavailable")
    assert purchase.stripe_payment_intent_id is None


def test_initiation_refuses_to_run_inside_a_callers_transaction(localstripe):
    plan = PricingPlanFactory()

    with (
        pytest.raises(RuntimeError, match="durable atomic block cannot be nested"),
        transaction.atomic(),
    ):
        purchase_initiate(plan_id=plan.pk, buyer=UserFactory())

    assert not PurchaseTransaction.objects.exists()
