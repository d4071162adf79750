"""Purchases started through the real initiation service at localstripe, with no webhook
registered there, so that only reconciliation can bring Stripe's news into the database."""

from datetime import datetime

import pytest

from devtools import localstripe as localstripe_control
from finances.models import PurchaseTransaction
from finances.services.purchases import purchase_initiate
from tests.factories import PricingPlanFactory, UserFactory


@pytest.fixture
def quiet_localstripe(localstripe):
    """localstripe emptied for this test (its event list too) and sending no webhooks."""
    localstripe_control.reset_data(api_base=localstripe.api_base)
    localstripe.unregister_webhook()
    return localstripe


def initiated_purchase(*, plan=None, student=None) -> PurchaseTransaction:
    plan = plan or PricingPlanFactory(minutes=600, price_cents=14000)
    initiation = purchase_initiate(plan_id=plan.pk, buyer=student or UserFactory())
    assert initiation.purchase.status == PurchaseTransaction.Status.PENDING
    return initiation.purchase


def created_at(purchase: PurchaseTransaction, moment: datetime) -> PurchaseTransaction:
    PurchaseTransaction.objects.filter(pk=purchase.pk).update(created_at=moment)
    purchase.refresh_from_db()
    return purchase
