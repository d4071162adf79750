"""The admin is for staff only: every finances page and the webhook health page send
anonymous visitors, students and teachers to the login page without showing any record,
and a money-moving action posted by a non-staff user does nothing at all."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from finances.models import Dispute, OperatorAction, PurchaseTransaction
from finances.services.family_requests import purchase_request_create
from finances.services.reconciliation import purchase_reconcile
from tests.factories import (
    GuardianStudentLinkFactory,
    GuestUserFactory,
    PurchaseTransactionFactory,
    StaffUserFactory,
    TeacherFactory,
    UserFactory,
    WebhookEventLogFactory,
)
from tests.support.payments import purchase_pay
from tests.support.reconciliation_helpers import initiated_purchase
from tests.support.subscriptions import subscription_with_a_period

pytestmark = pytest.mark.django_db

NOT_STAFF = {
    "anonymous": None,
    "student": UserFactory,
    "guest": GuestUserFactory,
    "teacher": TeacherFactory,
}


def finances_models() -> list:
    return sorted(
        (model for model in admin.site._registry if model._meta.app_label == "finances"),
        key=lambda model: model._meta.model_name,
    )


def admin_pages() -> list[str]:
    """Every finances changelist, the change page of one record of each, and the health page."""
    pages = [reverse("admin:finances_webhookeventlog_health"), reverse("admin:index")]
    for model in finances_models():
        name = f"admin:finances_{model._meta.model_name}"
        pages.append(reverse(f"{name}_changelist"))
        instance = model.objects.first()
        if instance is not None:
            pages.append(reverse(f"{name}_change", args=[instance.pk]))
    return pages


@pytest.fixture
def records():
    """A paid purchase (so a balance and a ledger entry exist) and a webhook event."""
    purchase = PurchaseTransactionFactory()
    purchase_pay(purchase)
    WebhookEventLogFactory()
    OperatorAction.objects.create(
        actor=StaffUserFactory(), action=OperatorAction.Action.RECONCILE, purchase=purchase
    )
    Dispute.objects.create(
        stripe_dispute_id="dp_access",
        purchase=purchase,
        amount_cents=100,
        currency="EUR",
        stripe_status="needs_response",
    )
    subscription_with_a_period()
    # families (docs/families.md): a student's request to a guardian.
    link = GuardianStudentLinkFactory(student=purchase.student)
    purchase_request_create(student=link.student, plan_id=purchase.plan_id)
    return purchase


def client_as(kind: str) -> Client:
    client = Client()
    factory = NOT_STAFF.get(kind, StaffUserFactory)
    if factory is not None:
        client.force_login(factory())
    return client


def test_every_finances_model_and_its_records_are_covered(records):
    pages = admin_pages()

    assert {model._meta.model_name for model in finances_models()} == {
        "dispute",
        "hoursledgerentry",
        "operatoraction",
        "pricingplan",
        "purchaserequest",
        "purchasetransaction",
        "stripecustomer",
        "studentaccountbalance",
        "subscription",
        "webhookeventlog",
    }
    assert len([page for page in pages if page.endswith("/change/")]) == 10


@pytest.mark.parametrize("kind", sorted(NOT_STAFF))
def test_admin_pages_send_non_staff_to_the_login_page_and_show_nothing(records, kind):
    client = client_as(kind)

    for page in admin_pages():
        response = client.get(page)

        assert response.status_code == 302, page
        assert response["Location"].startswith(reverse("admin:login")), page
        assert str(records.pk).encode() not in response.content, page


def test_staff_can_open_every_admin_page(records):
    client = client_as("staff")

    for page in admin_pages():
        response = client.get(page)

        assert response.status_code == 200, page
    purchases = client.get(reverse("admin:finances_purchasetransaction_changelist"))
    assert str(records.pk) in purchases.content.decode()


@pytest.mark.parametrize("kind", sorted(NOT_STAFF))
def test_a_refund_action_posted_by_a_non_staff_user_refunds_nothing(localstripe, kind):
    purchase = initiated_purchase()
    localstripe.pay(purchase.stripe_payment_intent_id)
    purchase_reconcile(purchase=purchase)
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED

    response = client_as(kind).post(
        reverse("admin:finances_purchasetransaction_changelist"),
        {
            "action": "refund_in_full",
            admin.helpers.ACTION_CHECKBOX_NAME: [str(purchase.pk)],
            "confirmed": "yes",
        },
    )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    refunds = localstripe.client.v1.refunds.list(
        params={"payment_intent": purchase.stripe_payment_intent_id}
    )
    assert refunds.data == []
    purchase.refresh_from_db()
    assert (purchase.status, purchase.refunded_amount_cents) == (
        PurchaseTransaction.Status.COMPLETED,
        0,
    )
