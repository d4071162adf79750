"""The operators' admin: every page renders for staff, records stay read-only, money and
hours are shown as people read them, and the actions really act (localstripe)."""

import pytest
from allauth.account.models import EmailAddress
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from finances.models import (
    Dispute,
    HoursLedgerEntry,
    OperatorAction,
    PricingPlan,
    PurchaseTransaction,
    StudentAccountBalance,
    WebhookEventLog,
)
from finances.services.family_links import family_invitation_create
from finances.services.family_requests import purchase_request_create
from finances.services.reconciliation import purchase_reconcile
from notifications.services import notification_enqueue
from tests.factories import (
    GuardianStudentLinkFactory,
    PricingPlanFactory,
    PurchaseTransactionFactory,
    StaffUserFactory,
    TeacherStudentAssignmentFactory,
    UserFactory,
)
from tests.support.jobs import one_job_of_each_state
from tests.support.operations_helpers import assert_ledger_clean, balance_of, lot_entries
from tests.support.payments import purchase_pay
from tests.support.reconciliation_helpers import initiated_purchase, quiet_localstripe
from tests.support.subscriptions import subscription_with_a_period
from tests.support.webhook_retry_helpers import failed_event, purchase_not_saved_yet

pytestmark = pytest.mark.django_db

EntryType = HoursLedgerEntry.EntryType
Status = PurchaseTransaction.Status
__all__ = ["quiet_localstripe"]


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(StaffUserFactory())
    return client


@pytest.fixture
def completed_purchase() -> PurchaseTransaction:
    purchase = PurchaseTransactionFactory(plan=PricingPlanFactory(minutes=600, price_cents=14000))
    purchase_pay(purchase)
    return purchase


@pytest.fixture
def one_of_everything(completed_purchase):
    link = GuardianStudentLinkFactory()
    EmailAddress.objects.create(user=link.guardian, email=link.guardian.email, verified=True)
    # families (docs/families.md): an invitation and a request with its events.
    family_invitation_create(
        inviter=link.guardian, email="invited@example.com", direction="GUARDIAN_INVITES_STUDENT"
    )
    purchase_request_create(student=link.student, plan_id=completed_purchase.plan_id)
    TeacherStudentAssignmentFactory()
    Group.objects.create(name="operators")
    Token.objects.create(user=StaffUserFactory())
    failed_event(purchase_not_saved_yet())
    OperatorAction.objects.create(
        actor=StaffUserFactory(),
        action=OperatorAction.Action.REFUND,
        purchase=completed_purchase,
        reason="Customer asked.",
    )
    attempt = {"user_agent": "test", "ip_address": "192.0.2.1", "username": "a@example.org"}
    AccessAttempt.objects.create(**attempt, get_data="", post_data="", failures_since_start=1)
    AccessFailureLog.objects.create(**attempt)
    AccessLog.objects.create(**attempt)
    one_job_of_each_state()
    notification_enqueue(kind="expiry_reminder", object_key="x", recipient="a@b.pt", context={})
    Dispute.objects.create(
        stripe_dispute_id="dp_admin",
        purchase=completed_purchase,
        amount_cents=100,
        currency="EUR",
        stripe_status="needs_response",
    )
    subscription_with_a_period()
    return completed_purchase


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _registered_models() -> list:
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


def test_every_admin_model_is_covered_here():
    assert {model._meta.label for model in _registered_models()} == {
        "account.EmailAddress",  # allauth: verified addresses
        "accounts.FamilyInvitation",
        "accounts.GuardianStudentLink",
        "accounts.TeacherStudentAssignment",
        "accounts.User",
        "auth.Group",
        "authtoken.TokenProxy",
        "axes.AccessAttempt",
        "axes.AccessFailureLog",
        "axes.AccessLog",
        "django_q.Failure",
        "django_q.OrmQ",
        "django_q.Schedule",
        "django_q.Success",
        "finances.Dispute",
        "finances.HoursLedgerEntry",
        "finances.OperatorAction",
        "finances.PricingPlan",
        "finances.PurchaseRequest",
        "finances.PurchaseTransaction",
        "finances.StripeCustomer",
        "finances.StudentAccountBalance",
        "finances.Subscription",
        "finances.WebhookEventLog",
        "notifications.Notification",
    }


@pytest.mark.parametrize("model", _registered_models(), ids=lambda model: model._meta.label)
def test_staff_see_every_changelist_and_change_page(staff_client, one_of_everything, model):
    changelist = staff_client.get(_url(model, "changelist"))
    instance = model._default_manager.order_by("pk").first()
    change = staff_client.get(_url(model, "change", instance.pk))

    assert changelist.status_code == 200
    assert change.status_code == 200
    assert str(instance.pk) in change.content.decode() or str(instance) in change.content.decode()


def test_staff_see_the_webhook_health_page_with_the_counts(staff_client, one_of_everything):
    response = staff_client.get(reverse("admin:finances_webhookeventlog_health"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Webhook health (last 24 hours)" in page
    assert "<tr><th>Events received</th><td>1</td></tr>" in page
    assert "payment_intent.succeeded" in page
    assert f"<td>{settings.STRIPE_API_VERSION}</td>" in page
    changelist = staff_client.get(_url(WebhookEventLog, "changelist")).content.decode()
    assert reverse("admin:finances_webhookeventlog_health") in changelist


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/finances/purchasetransaction/",
        "/admin/finances/webhookeventlog/health/",
    ],
)
def test_a_user_who_is_not_staff_is_sent_to_the_login_page(path):
    client = Client()
    client.force_login(UserFactory())

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert f"next={path}" in response["Location"]


def test_money_and_hours_are_shown_in_euros_and_hours(staff_client, completed_purchase):
    purchases = staff_client.get(_url(PurchaseTransaction, "changelist")).content.decode()
    balances = staff_client.get(_url(StudentAccountBalance, "changelist")).content.decode()
    plans = staff_client.get(_url(PricingPlan, "changelist")).content.decode()

    for page in (purchases, balances, plans):
        assert "140.00 EUR" in page
        assert "10.00 h" in page
    assert "14000" not in purchases
    assert "0.00 EUR" in purchases  # nothing refunded


@pytest.mark.parametrize(
    "model", [HoursLedgerEntry, WebhookEventLog, StudentAccountBalance, OperatorAction]
)
def test_records_cannot_be_added_changed_or_deleted_by_hand(staff_client, one_of_everything, model):
    instance = model._default_manager.order_by("pk").first()
    snapshot = model._default_manager.values().get(pk=instance.pk)

    changelist = staff_client.get(_url(model, "changelist")).content.decode()
    add = staff_client.get(_url(model, "add"))
    change = staff_client.get(_url(model, "change", instance.pk))
    post = staff_client.post(_url(model, "change", instance.pk), {"note": "edited"})
    delete = staff_client.post(_url(model, "delete", instance.pk), {"post": "yes"})

    assert _url(model, "add") not in changelist
    assert add.status_code == 403
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert post.status_code == 403
    assert delete.status_code == 403
    assert model._default_manager.values().get(pk=instance.pk) == snapshot


def test_purchases_cannot_be_added_or_deleted_and_only_the_review_fields_change(
    staff_client, completed_purchase
):
    change_url = _url(PurchaseTransaction, "change", completed_purchase.pk)

    add = staff_client.get(_url(PurchaseTransaction, "add"))
    delete = staff_client.post(_url(PurchaseTransaction, "delete", completed_purchase.pk))
    saved = staff_client.post(
        change_url,
        {
            "needs_review": "on",
            "review_reason": "Customer called.",
            "status": "CANCELLED",
            "amount_cents": "1",
            **_inline_management_forms(completed_purchase),
        },
    )

    assert (add.status_code, delete.status_code) == (403, 403)
    assert saved.status_code == 302, saved.context["errors"]
    completed_purchase.refresh_from_db()
    assert (completed_purchase.needs_review, completed_purchase.review_reason) == (
        True,
        "Customer called.",
    )
    assert (completed_purchase.status, completed_purchase.amount_cents) == (Status.COMPLETED, 14000)


def _inline_management_forms(purchase) -> dict[str, str]:
    """The (read-only) inline formsets' fields, as the change page posts them."""
    entry_ids = list(
        purchase.ledger_entries.order_by("created_at", "id").values_list("pk", flat=True)
    )
    forms = {}
    for prefix, ids in (
        ("ledger_entries", entry_ids),
        ("disputes", []),
        ("webhook_events", []),
        ("operator_actions", []),
    ):
        forms.update(
            {
                f"{prefix}-TOTAL_FORMS": str(len(ids)),
                f"{prefix}-INITIAL_FORMS": str(len(ids)),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
        forms.update({f"{prefix}-{index}-id": str(pk) for index, pk in enumerate(ids)})
    return forms


def _plan_form(**changes) -> dict[str, str]:
    return {
        "name": "Twelve and a half hours",
        "slug": "twelve-and-a-half",
        "description": "",
        "plan_type": "PACKAGE",
        "hours": "12.50",
        "price": "140.50",
        "currency": "EUR",
        "validity_days": "60",
        "billing_period": "",
        "display_order": "3",
        "is_active": "on",
        **changes,
    }


def test_a_plan_typed_in_euros_and_hours_is_saved_in_cents_and_minutes(staff_client):
    response = staff_client.post(_url(PricingPlan, "add"), _plan_form())

    assert response.status_code == 302, response.content.decode()[:2000]
    plan = PricingPlan.objects.get(slug="twelve-and-a-half")
    assert (plan.minutes, plan.price_cents, plan.validity_days) == (750, 14050, 60)


def test_editing_a_plan_shows_and_saves_euros_and_hours(staff_client):
    plan = PricingPlanFactory(minutes=600, price_cents=14000, slug="ten", name="Ten")
    change_url = _url(PricingPlan, "change", plan.pk)

    form = staff_client.get(change_url).content.decode()
    response = staff_client.post(
        change_url, _plan_form(slug="ten", name="Ten", hours="1.25", price="99.99")
    )

    assert 'name="price" value="140' in form
    assert 'name="hours" value="10' in form
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.minutes, plan.price_cents) == (75, 9999)


@pytest.mark.parametrize(
    ("changes", "field"), [({"price": "0"}, "price"), ({"hours": "-1"}, "hours")]
)
def test_a_plan_without_a_positive_price_or_hours_is_refused(staff_client, changes, field):
    response = staff_client.post(_url(PricingPlan, "add"), _plan_form(**changes))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not PricingPlan.objects.filter(slug="twelve-and-a-half").exists()


def _action(client: Client, model, action: str, *objects, **extra):
    return client.post(
        _url(model, "changelist"),
        {"action": action, "_selected_action": [str(obj.pk) for obj in objects], **extra},
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_retry_processing_action_processes_a_failed_event(staff_client):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    purchase.save()

    response = _action(staff_client, WebhookEventLog, "retry_processing", event_log)

    assert response.status_code == 200
    assert _messages(response) == [
        "Retried 1 events: 1 processed, 0 ignored, 0 failed; 0 skipped (finished or busy)."
    ]
    event_log.refresh_from_db()
    assert (event_log.status, event_log.retry_count) == (WebhookEventLog.Status.PROCESSED, 1)
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert lot_entries(purchase) == [(EntryType.CREDIT, purchase.minutes)]


def test_the_reconcile_action_completes_a_purchase_paid_at_stripe(staff_client, quiet_localstripe):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)

    response = _action(staff_client, PurchaseTransaction, "reconcile_with_stripe", purchase)

    assert response.status_code == 200
    assert _messages(response) == [
        f"{purchase.pk}: Payment completed and hours credited.",
        "Reconciled 1 purchases: 1 changed, 0 errors.",
    ]
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert lot_entries(purchase) == [(EntryType.CREDIT, 600)]
    assert_ledger_clean()


def test_refund_in_full_asks_for_confirmation_then_refunds_at_stripe(
    staff_client, quiet_localstripe
):
    purchase = initiated_purchase()
    quiet_localstripe.pay(purchase.stripe_payment_intent_id)
    purchase_reconcile(purchase=purchase)
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED

    confirmation = _action(staff_client, PurchaseTransaction, "refund_in_full", purchase)

    page = confirmation.content.decode()
    assert confirmation.status_code == 200
    assert "Refund these purchases at Stripe?" in page
    assert '<textarea name="reason" cols="60" rows="3" maxlength="2000" required' in page
    assert str(purchase.pk) in page
    assert 'name="confirmed" value="yes"' in page
    assert quiet_localstripe.client.v1.refunds.list().data == []
    purchase.refresh_from_db()
    assert (purchase.status, purchase.refunded_amount_cents) == (Status.COMPLETED, 0)

    done = _action(
        staff_client,
        PurchaseTransaction,
        "refund_in_full",
        purchase,
        confirmed="yes",
        reason="Customer moved abroad.",
    )

    assert _messages(done) == [f"{purchase.pk}: refunded (applied)."]
    refunds = quiet_localstripe.client.v1.refunds.list().data
    assert [(refund.payment_intent, refund.amount) for refund in refunds] == [
        (purchase.stripe_payment_intent_id, 14000)
    ]
    purchase.refresh_from_db()
    assert (purchase.status, purchase.refunded_amount_cents) == (Status.REFUNDED, 14000)
    assert lot_entries(purchase) == [(EntryType.CREDIT, 600), (EntryType.REFUND_REVERSAL, -600)]
    assert balance_of(purchase.student).remaining_minutes == 0
    assert_ledger_clean()


def test_refund_in_full_refuses_a_purchase_that_was_never_paid(staff_client):
    pending = PurchaseTransactionFactory()

    response = _action(
        staff_client,
        PurchaseTransaction,
        "refund_in_full",
        pending,
        confirmed="yes",
        reason="Mistake.",
    )

    assert _messages(response) == [f"{pending.pk}: Only a completed purchase can be refunded."]
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
