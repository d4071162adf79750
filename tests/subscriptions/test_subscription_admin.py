"""Subscriptions in the admin: periods, grants and history on the page, Stripe Dashboard
links, and cancel/resume actions only with the permission (localstripe)."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from finances.models import Subscription
from tests.factories import SubscriptionPlanFactory, UserFactory
from tests.support.subscriptions import SUBSCRIPTIONS_URL, subscription_with_a_period

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:finances_subscription_changelist"


def _staff(*codenames: str) -> Client:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="finances",
            codename__in=["view_subscription", *codenames],
        )
    )
    client = Client()
    client.force_login(staff)
    return client, staff


def test_the_subscription_page_shows_its_periods_history_and_dashboard_links():
    subscription = subscription_with_a_period()
    client, _ = _staff()

    page = client.get(
        reverse("admin:finances_subscription_change", args=[subscription.pk])
    ).content.decode()

    period = subscription.periods.get()
    assert period.stripe_invoice_id in page
    assert f"https://dashboard.stripe.com/test/invoices/{period.stripe_invoice_id}" in page
    assert (
        f"https://dashboard.stripe.com/test/subscriptions/{subscription.stripe_subscription_id}"
        in page
    )
    assert "INCOMPLETE" in page or "ACTIVE" in page


def test_without_the_permission_the_cancel_actions_are_refused():
    subscription = subscription_with_a_period()
    client, _ = _staff()

    response = client.post(
        reverse(CHANGELIST),
        {"action": "cancel_now_action", "_selected_action": [str(subscription.pk)]},
    )

    assert response.status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_with_the_permission_staff_cancel_at_period_end_and_resume_and_are_recorded(
    localstripe, api_client
):
    from rest_framework.authtoken.models import Token

    plan = SubscriptionPlanFactory(slug="admin-monthly")
    student = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=student).key}")
    created = api_client.post(
        SUBSCRIPTIONS_URL,
        {"plan_id": plan.pk, "payment_method_id": "pm_card_visa"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    subscription = Subscription.objects.get()
    client, staff = _staff("cancel_subscription")

    client.post(
        reverse(CHANGELIST),
        {"action": "cancel_at_period_end_action", "_selected_action": [str(subscription.pk)]},
    )
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    client.post(
        reverse(CHANGELIST),
        {"action": "resume_action", "_selected_action": [str(subscription.pk)]},
    )
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end
    sources = set(subscription.status_changes.filter(actor=staff).values_list("source", flat=True))
    assert sources == {"admin"}
    assert subscription.status_changes.filter(actor=staff).count() == 2


def test_staff_with_the_reconcile_permission_grant_a_missed_renewal_from_the_admin(localstripe):
    from finances.services.subscription_start import subscription_create
    from tests.support.subscriptions import renew

    plan = SubscriptionPlanFactory(slug="admin-reconcile")
    subscription = subscription_create(
        plan_id=plan.pk, payment_method_id="pm_card_visa", buyer=UserFactory()
    ).subscription
    invoice = renew(localstripe, subscription.stripe_subscription_id)
    without, _ = _staff()
    with_permission, _ = _staff("reconcile_purchasetransaction")
    selected = {"action": "reconcile_action", "_selected_action": [str(subscription.pk)]}

    assert without.post(reverse(CHANGELIST), selected).status_code == 403
    with_permission.post(reverse(CHANGELIST), selected)

    assert subscription.periods.filter(stripe_invoice_id=invoice.id).exists()
