"""The purchases admin's "Expire abandoned checkouts" action (against localstripe)."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from finances.models import OperatorAction, PurchaseTransaction
from tests.factories import StaffUserFactory, UserFactory
from tests.support.reconciliation_helpers import initiated_purchase, quiet_localstripe

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
__all__ = ["quiet_localstripe"]
CHANGELIST = reverse("admin:finances_purchasetransaction_changelist")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _expire_selected(client: Client, *purchases):
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        return client.post(
            CHANGELIST,
            {
                "action": "expire_abandoned_checkouts",
                "_selected_action": [str(purchase.pk) for purchase in purchases],
            },
            follow=True,
        )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_action_expires_the_selected_abandoned_checkouts_only(quiet_localstripe):
    superuser = StaffUserFactory()  # a superuser
    selected, not_selected = initiated_purchase(), initiated_purchase()

    response = _expire_selected(_client_for(superuser), selected)

    assert response.status_code == 200
    assert _messages(response) == [
        f"{selected.pk}: Checkout abandoned: not paid within 24 h; PaymentIntent "
        f"{selected.stripe_payment_intent_id} cancelled at Stripe.",
        "Expired 1 abandoned checkouts, 0 errors; 0 skipped (not open, or younger than 24 h).",
    ]
    selected.refresh_from_db()
    not_selected.refresh_from_db()
    assert (selected.status, not_selected.status) == (Status.CANCELLED, Status.PENDING)
    audit = OperatorAction.objects.get()
    assert (audit.actor, audit.action, audit.purchase_id) == (
        superuser,
        OperatorAction.Action.EXPIRE,
        selected.pk,
    )
    assert audit.details["via"] == "admin"


def test_a_recent_selected_purchase_is_skipped(quiet_localstripe):
    superuser = StaffUserFactory()  # a superuser
    purchase = initiated_purchase()

    response = _client_for(superuser).post(
        CHANGELIST,
        {"action": "expire_abandoned_checkouts", "_selected_action": [str(purchase.pk)]},
        follow=True,
    )

    assert _messages(response)[-1] == (
        "Expired 0 abandoned checkouts, 0 errors; 1 skipped (not open, or younger than 24 h)."
    )
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING


def test_staff_without_the_reconcile_permission_get_403_and_stripe_is_not_asked(quiet_localstripe):
    purchase = initiated_purchase()

    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_purchasetransaction", "change_purchasetransaction"]
        )
    )

    response = _expire_selected(_client_for(staff), purchase)

    assert response.status_code == 403
    assert not OperatorAction.objects.exists()
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING
    assert quiet_localstripe.retrieve(purchase.stripe_payment_intent_id).status == (
        "requires_payment_method"
    )
