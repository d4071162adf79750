"""A package's payment completed in one statement (PostgreSQL) writes what the general way
writes, and every case that is not the plain one goes the general way."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction

from finances.models import (
    HoursLedgerEntry,
    PurchaseTransaction,
    StudentAccountBalance,
    WebhookEventLog,
)
from finances.services import package_completion, payments
from finances.state_machine import PaymentReport, transition_for
from finances.stripe_payloads import payment_intent_parse
from tests.factories import (
    PricingPlanFactory,
    PurchaseTransactionFactory,
    SubscriptionPlanFactory,
)
from tests.support.stripe_events import post_event
from tests.support.webhook_pipeline_helpers import succeeded_event

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
on_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the one statement is PostgreSQL's"
)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def general_way_calls(monkeypatch):
    """How often a delivery went the general way (the lock helper's SELECT)."""
    calls = []
    real_locate = payments.purchase_locate

    def counting_locate(**kwargs):
        calls.append(kwargs["payment_intent_id"])
        return real_locate(**kwargs)

    monkeypatch.setattr(payments, "purchase_locate", counting_locate)
    return calls


def test_its_statuses_are_those_a_success_completes_without_review():
    completes_plainly = {
        status
        for status in Status.values
        if (decision := transition_for(status, PaymentReport.SUCCEEDED)).target == Status.COMPLETED
        and not decision.needs_review
    }

    assert set(package_completion.OPEN_STATUSES) == completes_plainly


@pytest.mark.parametrize("status", [Status.PENDING, Status.PROCESSING, Status.FAILED])
def test_a_paid_package_is_completed_credited_and_its_event_finished(
    api_client, general_way_calls, status
):
    plan = PricingPlanFactory(minutes=600, price_cents=14000, validity_days=45)
    purchase = PurchaseTransactionFactory(plan=plan, status=status, failure_reason="declined")
    document = succeeded_event(purchase)

    response = post_event(api_client, document)

    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    assert (purchase.status, purchase.failure_reason, purchase.lot_open) == (
        Status.COMPLETED,
        "",
        True,
    )
    assert purchase.expires_at == purchase.paid_at + timedelta(days=45)
    assert purchase.expires_at == purchase.hours_expiry_for(purchase.paid_at)
    entry = HoursLedgerEntry.objects.get(purchase_transaction=purchase)
    assert (
        entry.entry_type,
        entry.minutes,
        entry.amount_cents,
        entry.expires_at,
        entry.idempotency_key,
        entry.stripe_event_id,
        entry.note,
        entry.student_id,
    ) == (
        HoursLedgerEntry.EntryType.CREDIT,
        600,
        14000,
        purchase.expires_at,
        f"credit:{purchase.pk}",
        document["id"],
        f"{plan.name} paid",
        purchase.student_id,
    )
    balance = StudentAccountBalance.objects.get(student=purchase.student)
    assert (balance.purchased_minutes, balance.remaining_minutes, balance.paid_cents) == (
        600,
        600,
        14000,
    )
    log = WebhookEventLog.objects.get(stripe_event_id=document["id"])
    assert (log.status, log.purchase_transaction_id, log.processed_at, log.error_message) == (
        WebhookEventLog.Status.PROCESSED,
        purchase.pk,
        NOW,
        "",
    )
    expected_general_way_calls = [] if connection.vendor == "postgresql" else [purchase.pk]
    assert len(general_way_calls) == len(expected_general_way_calls)


def test_a_student_without_a_balance_row_gets_one_with_the_credit(api_client):
    purchase = PurchaseTransactionFactory()
    StudentAccountBalance.objects.filter(student=purchase.student).delete()

    post_event(api_client, succeeded_event(purchase))

    balance = StudentAccountBalance.objects.get(student=purchase.student)
    assert (balance.remaining_minutes, balance.paid_cents) == (
        purchase.minutes,
        purchase.amount_cents,
    )


def test_stored_customer_and_charge_ids_are_kept_and_missing_ones_stored(api_client):
    kept = PurchaseTransactionFactory(stripe_customer_id="cus_kept", stripe_charge_id="")
    document = succeeded_event(kept)
    document["data"]["object"]["customer"] = "cus_new"
    document["data"]["object"]["latest_charge"] = "ch_new"

    post_event(api_client, document)

    kept.refresh_from_db()
    assert (kept.stripe_customer_id, kept.stripe_charge_id) == ("cus_kept", "ch_new")


@on_postgresql
@pytest.mark.parametrize(
    "case",
    ["cancelled", "already_completed", "amount", "not_ours", "no_payment_intent_stored"],
)
def test_every_case_but_the_plain_one_goes_the_general_way(api_client, general_way_calls, case):
    purchase = PurchaseTransactionFactory(
        status=Status.CANCELLED if case == "cancelled" else Status.PENDING
    )
    options = {"amount": purchase.amount_cents - 1} if case == "amount" else {}
    document = succeeded_event(purchase, **options)
    if case == "already_completed":
        post_event(api_client, succeeded_event(purchase))
        general_way_calls.clear()
    if case == "not_ours":
        document["data"]["object"]["id"] = "pi_someone_else"
        document["data"]["object"]["metadata"] = {}
    if case == "no_payment_intent_stored":
        PurchaseTransaction.objects.filter(pk=purchase.pk).update(stripe_payment_intent_id=None)

    response = post_event(api_client, document)

    assert response.status_code == 200, response.content
    assert len(general_way_calls) == 1
    purchase.refresh_from_db()
    credits = HoursLedgerEntry.objects.filter(purchase_transaction=purchase).count()
    expected = {
        "cancelled": (Status.COMPLETED, True, 1),  # credited, and flagged for a person
        "already_completed": (Status.COMPLETED, False, 1),  # nothing more
        "amount": (Status.PENDING, True, 0),  # the mismatch is flagged, nothing credited
        "not_ours": (Status.PENDING, False, 0),
        "no_payment_intent_stored": (Status.COMPLETED, False, 1),  # adopted, then credited
    }[case]
    assert (purchase.status, purchase.needs_review, credits) == expected


@on_postgresql
def test_a_subscription_period_is_never_completed_by_the_one_statement(general_way_calls):
    purchase = PurchaseTransactionFactory(plan=SubscriptionPlanFactory())
    intent = succeeded_event(purchase)["data"]["object"]

    with transaction.atomic():
        completed = package_completion.package_purchase_complete(
            payment_intent=payment_intent_parse(intent),
            paid_at=NOW,
            source_event_id="evt_x",
            event_finish=None,
        )

    assert completed is None
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING
