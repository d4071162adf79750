"""Moving money, reconciling and replaying events need an explicit permission, checked by
the admin action and by the service: staff who may only look cannot refund, reconcile or
retry (not through the page, not by a forged POST, not by calling the service), and every
action that did happen is recorded with who and why."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.errors import PermissionDeniedError
from finances.models import OperatorAction, PurchaseTransaction, WebhookEventLog
from finances.services.checkouts import abandoned_checkouts_expire
from finances.services.reconciliation import purchase_reconcile
from finances.services.refunds import purchase_refund_at_stripe
from finances.services.webhook_retries import webhook_events_retry
from tests.factories import PurchaseTransactionFactory, UserFactory
from tests.support.fake_stripe import FakeStripeServer
from tests.support.payments import purchase_pay
from tests.support.reconciliation_helpers import initiated_purchase, quiet_localstripe
from tests.support.webhook_retry_helpers import failed_event, purchase_not_saved_yet

pytestmark = pytest.mark.django_db
__all__ = ["quiet_localstripe"]

Status = PurchaseTransaction.Status
Action = OperatorAction.Action
PURCHASES = reverse("admin:finances_purchasetransaction_changelist")
EVENTS = reverse("admin:finances_webhookeventlog_changelist")
HEALTH = reverse("admin:finances_webhookeventlog_health")


def staff_with(*codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="finances", codename__in=codenames)
    )
    return user


def viewer():
    return staff_with("view_purchasetransaction", "view_webhookeventlog")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_action(client: Client, url: str, action: str, *objects, **extra):
    return client.post(
        url,
        {
            "action": action,
            admin.helpers.ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in objects],
            **extra,
        },
    )


@pytest.fixture
def paid_at_stripe(quiet_localstripe) -> PurchaseTransaction:
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    purchase_reconcile(purchase=purchase)
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    return purchase


@pytest.fixture
def recording_stripe(settings):
    """A Stripe that records every request: proof that nothing was asked of it."""
    server = FakeStripeServer().start()
    settings.STRIPE_API_BASE = server.api_base
    yield server
    server.stop()


def refunds_at_stripe(localstripe, purchase) -> list:
    return localstripe.client.v1.refunds.list(
        params={"payment_intent": purchase.stripe_payment_intent_id}
    ).data


def test_view_only_staff_do_not_see_the_money_actions(paid_at_stripe):
    page = client_for(viewer()).get(PURCHASES).content.decode()
    events = client_for(viewer()).get(EVENTS).content.decode()

    assert str(paid_at_stripe.pk) in page
    assert 'value="refund_in_full"' not in page
    assert 'value="reconcile_with_stripe"' not in page
    assert 'value="retry_processing"' not in events


@pytest.mark.parametrize("confirmed", [{}, {"confirmed": "yes", "reason": "Because I can."}])
def test_view_only_staff_forging_a_refund_post_get_403_and_stripe_refunds_nothing(
    quiet_localstripe, paid_at_stripe, confirmed
):
    response = post_action(
        client_for(viewer()), PURCHASES, "refund_in_full", paid_at_stripe, **confirmed
    )

    assert response.status_code == 403
    assert refunds_at_stripe(quiet_localstripe, paid_at_stripe) == []
    paid_at_stripe.refresh_from_db()
    assert (paid_at_stripe.status, paid_at_stripe.refunded_amount_cents) == (Status.COMPLETED, 0)
    assert not OperatorAction.objects.exists()


def test_view_only_staff_forging_a_reconcile_post_get_403_and_nothing_changes(quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)

    response = post_action(client_for(viewer()), PURCHASES, "reconcile_with_stripe", purchase)

    assert response.status_code == 403
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING
    assert not purchase.ledger_entries.exists()


def test_view_only_staff_forging_a_retry_post_get_403_and_the_event_stays_failed():
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    purchase.save()

    response = post_action(client_for(viewer()), EVENTS, "retry_processing", event_log)

    assert response.status_code == 403
    event_log.refresh_from_db()
    assert (event_log.status, event_log.retry_count) == (WebhookEventLog.Status.FAILED, 0)


def test_refunding_through_the_service_without_the_permission_never_reaches_stripe(
    recording_stripe,
):
    purchase = PurchaseTransactionFactory()
    purchase_pay(purchase)

    with pytest.raises(PermissionDeniedError) as raised:
        purchase_refund_at_stripe(purchase=purchase, actor=viewer(), reason="Trying.")

    assert (raised.value.code, raised.value.status_code) == ("permission_denied", 403)
    assert recording_stripe.requests == []
    assert not OperatorAction.objects.exists()


def test_reconciling_and_retrying_through_the_services_without_the_permission_are_refused(
    recording_stripe,
):
    purchase = PurchaseTransactionFactory()
    unsaved = purchase_not_saved_yet()
    event_log = failed_event(unsaved)
    unsaved.save()

    with pytest.raises(PermissionDeniedError):
        purchase_reconcile(purchase=purchase, actor=viewer())
    with pytest.raises(PermissionDeniedError):
        webhook_events_retry(event_ids=[str(event_log.pk)], actor=viewer())

    assert recording_stripe.requests == []
    event_log.refresh_from_db()
    assert (event_log.status, event_log.retry_count) == (WebhookEventLog.Status.FAILED, 0)


def test_an_inactive_operator_keeps_no_permission(recording_stripe):
    operator = staff_with("refund_purchasetransaction")
    operator.is_active = False
    operator.save()
    purchase = PurchaseTransactionFactory()
    purchase_pay(purchase)

    with pytest.raises(PermissionDeniedError):
        purchase_refund_at_stripe(purchase=purchase, actor=operator, reason="Left the company.")

    assert recording_stripe.requests == []


def test_staff_without_any_permission_cannot_open_the_webhook_health_page():
    assert client_for(staff_with()).get(HEALTH).status_code == 403
    assert client_for(staff_with("view_purchasetransaction")).get(HEALTH).status_code == 403
    assert client_for(staff_with("view_webhookeventlog")).get(HEALTH).status_code == 200


def test_a_permitted_operator_refund_asks_for_a_reason_and_is_recorded(
    quiet_localstripe, paid_at_stripe
):
    operator = staff_with("view_purchasetransaction", "refund_purchasetransaction")
    client = client_for(operator)

    without_reason = post_action(
        client, PURCHASES, "refund_in_full", paid_at_stripe, confirmed="yes", reason="  "
    )

    assert without_reason.status_code == 200
    assert "This field is required." in without_reason.content.decode()
    assert refunds_at_stripe(quiet_localstripe, paid_at_stripe) == []

    done = post_action(
        client,
        PURCHASES,
        "refund_in_full",
        paid_at_stripe,
        confirmed="yes",
        reason="Course cancelled by the school.",
        amount="40.00",
    )

    assert done.status_code == 302
    refunds = refunds_at_stripe(quiet_localstripe, paid_at_stripe)
    assert [refund.amount for refund in refunds] == [4000]
    paid_at_stripe.refresh_from_db()
    assert paid_at_stripe.refunded_amount_cents == 4000
    audit = OperatorAction.objects.get()
    assert (audit.actor, audit.action, audit.purchase, audit.reason) == (
        operator,
        Action.REFUND,
        paid_at_stripe,
        "Course cancelled by the school.",
    )
    assert audit.details == {
        "amount_cents": 4000,
        "refunded_before_cents": 0,
        "outcome": "refunded",
        "refund_id": refunds[0].id,
    }
    purchase_page = client.get(
        reverse("admin:finances_purchasetransaction_change", args=[paid_at_stripe.pk])
    ).content.decode()
    assert "Course cancelled by the school." in purchase_page


def test_a_refund_stripe_refuses_is_still_recorded_as_asked(paid_at_stripe, recording_stripe):
    recording_stripe.respond_with_error(400, "invalid_request_error")
    operator = staff_with("refund_purchasetransaction")

    with pytest.raises(Exception) as raised:
        purchase_refund_at_stripe(purchase=paid_at_stripe, actor=operator, reason="Duplicate.")

    audit = OperatorAction.objects.get()
    assert (audit.actor, audit.reason, audit.details["outcome"]) == (
        operator,
        "Duplicate.",
        "failed",
    )
    assert audit.details["error_code"] == raised.value.code


def test_a_permitted_reconcile_and_retry_are_recorded_with_the_operator(quiet_localstripe):
    operator = staff_with(
        "view_purchasetransaction",
        "reconcile_purchasetransaction",
        "view_webhookeventlog",
        "replay_webhookeventlog",
    )
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    unsaved = purchase_not_saved_yet()
    event_log = failed_event(unsaved)
    unsaved.save()

    reconciled = post_action(client_for(operator), PURCHASES, "reconcile_with_stripe", purchase)
    retried = post_action(client_for(operator), EVENTS, "retry_processing", event_log)

    assert (reconciled.status_code, retried.status_code) == (302, 302)
    reconcile, replay = OperatorAction.objects.order_by("created_at", "id")
    assert (reconcile.actor, reconcile.action, reconcile.purchase) == (
        operator,
        Action.RECONCILE,
        purchase,
    )
    assert reconcile.details["via"] == "admin"
    assert reconcile.details["changed"] is True
    assert (replay.actor, replay.action, replay.event) == (operator, Action.REPLAY, event_log)
    assert replay.details == {
        "via": "admin",
        "stripe_event_id": event_log.stripe_event_id,
        "status": "PROCESSED",
    }


def test_the_retry_command_acts_as_the_system_and_says_so():
    unsaved = purchase_not_saved_yet()
    event_log = failed_event(unsaved)
    unsaved.save()

    call_command("retry_webhook_events", "--ids", event_log.stripe_event_id, stdout=None)

    audit = OperatorAction.objects.get()
    assert (audit.actor, audit.action, audit.event) == (None, Action.REPLAY, event_log)
    assert audit.details["via"] == "command"


def test_the_reconcile_command_records_each_purchase_it_changed(quiet_localstripe, time_machine):
    purchase = initiated_purchase()
    untouched = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    PurchaseTransaction.objects.update(created_at=purchase.created_at.replace(year=2000))
    time_machine.move_to(purchase.created_at, tick=False)

    call_command("reconcile_payments", "--events-since-hours", "0", "--since", "1999-01-01")

    audit = OperatorAction.objects.get()
    assert (audit.actor, audit.action, audit.purchase) == (None, Action.RECONCILE, purchase)
    assert audit.details["via"] == "command"
    assert untouched.operator_actions.count() == 0


def test_expiring_checkouts_through_the_service_without_the_permission_never_reaches_stripe(
    recording_stripe,
):
    purchase = PurchaseTransactionFactory()
    a_day_later = timezone.now() + timedelta(hours=25)

    with pytest.raises(PermissionDeniedError):
        abandoned_checkouts_expire(now=a_day_later, purchase_ids=[purchase.pk], actor=viewer())

    assert recording_stripe.requests == []
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.PENDING
    assert not OperatorAction.objects.exists()
