"""End to end: our running server, real HTTP, localstripe as Stripe, its own webhooks.

Initiate through the API → confirm the PaymentIntent with the real stripe SDK against
localstripe → localstripe signs and POSTs the event to the live server (about 1 s later,
with its own signing code, so our signature check is proven against another
implementation) → the API shows the result. Nothing in between is mocked.
"""

import time
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.stripe_events import TEST_WEBHOOK_SECRET, WEBHOOK_URL

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK_DEADLINE_SECONDS = 20
HTTP_TIMEOUT_SECONDS = 30
Status = PurchaseTransaction.Status


@pytest.fixture
def stripe(localstripe, live_server):
    """localstripe, sending its webhooks to the live server until the test ends."""
    localstripe.register_webhook(url=f"{live_server.url}{WEBHOOK_URL}", secret=TEST_WEBHOOK_SECRET)
    yield localstripe
    localstripe.unregister_webhook()


@pytest.fixture
def api(live_server):
    class Api:
        def initiate(self, payload: dict, *, token: str | None = None) -> dict:
            response = requests.post(
                f"{live_server.url}/api/finances/purchase/initiate/",
                json=payload,
                headers={"Authorization": f"Token {token}"} if token else {},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            assert response.status_code == 201, response.text
            return response.json()

        def get(self, path: str, *, token: str | None = None, headers=None) -> requests.Response:
            headers = dict(headers or {})
            if token:
                headers["Authorization"] = f"Token {token}"
            return requests.get(
                f"{live_server.url}/api/finances/{path}",
                headers=headers,
                timeout=HTTP_TIMEOUT_SECONDS,
            )

        def get_ok(self, path: str, **kwargs) -> dict:
            response = self.get(path, **kwargs)
            assert response.status_code == 200, response.text
            return response.json()

    return Api()


def _poll(fetch, reached, *, what: str) -> dict:
    deadline = time.monotonic() + WEBHOOK_DEADLINE_SECONDS
    while True:
        body = fetch()
        if reached(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {WEBHOOK_DEADLINE_SECONDS} s: {body}")
        time.sleep(0.2)


def _student_with_token():
    student = UserFactory()
    return student, Token.objects.create(user=student).key


def _localstripe_event_id(localstripe, event_type: str, payment_intent_id: str) -> str:
    ids = [
        sent.id
        for sent in localstripe.events(event_type)
        if sent.to_dict()["data"]["object"]["id"] == payment_intent_id
    ]
    assert len(ids) == 1, f"localstripe sent {len(ids)} {event_type} for {payment_intent_id}"
    return ids[0]


def _assert_processed_log(localstripe, event_type: str, purchase) -> None:
    event_id = _localstripe_event_id(localstripe, event_type, purchase.stripe_payment_intent_id)
    log = WebhookEventLog.objects.get(stripe_event_id=event_id)
    assert (log.status, log.event_type) == (WebhookEventLog.Status.PROCESSED, event_type)
    assert log.purchase_transaction_id == purchase.pk


def _assert_verify_ledger_clean() -> None:
    output = StringIO()
    call_command("verify_ledger", stdout=output)  # raises CommandError on any drift
    assert "Ledger clean." in output.getvalue()


def _credits(purchase):
    return HoursLedgerEntry.objects.filter(
        purchase_transaction=purchase, entry_type=HoursLedgerEntry.EntryType.CREDIT
    )


def test_a_student_pays_by_card_and_localstripes_webhook_credits_the_hours(stripe, api):
    plan = PricingPlanFactory(minutes=600, price_cents=14000)
    student, token = _student_with_token()

    started = api.initiate({"plan_id": plan.pk}, token=token)
    assert (started["status"], started["amount"], started["currency"]) == (
        "PENDING",
        "140.00",
        "EUR",
    )
    assert stripe.pay(started["payment_intent_id"]).status == "succeeded"
    balance = _poll(
        lambda: api.get_ok("balance/", token=token),
        lambda body: body["minutes_available"] == 600,
        what="600 minutes in the balance",
    )

    assert balance["hours_available"] == "10.00"
    assert balance["totals"]["hours_purchased"] == "10.00"
    assert [lot["transaction_id"] for lot in balance["active_packages"]] == [
        started["transaction_id"]
    ]
    purchase = PurchaseTransaction.objects.get(pk=started["transaction_id"])
    assert (purchase.student_id, purchase.status) == (student.pk, Status.COMPLETED)
    assert purchase.stripe_payment_intent_id == started["payment_intent_id"]
    credit = _credits(purchase).get()
    assert (credit.minutes, credit.amount_cents) == (600, 14000)
    _assert_processed_log(stripe, "payment_intent.succeeded", purchase)
    assert credit.stripe_event_id == _localstripe_event_id(
        stripe, "payment_intent.succeeded", purchase.stripe_payment_intent_id
    )
    _assert_verify_ledger_clean()


def test_a_guest_pays_and_follows_the_purchase_with_the_client_secret(stripe, api):
    plan = PricingPlanFactory(minutes=600, price_cents=14000)

    started = api.initiate(
        {"plan_id": plan.pk, "student_info": {"name": "Ana Silva", "email": "ana@example.com"}}
    )
    status_path = f"purchase/{started['transaction_id']}/status/"
    secret = {"X-Client-Secret": started["client_secret"]}
    assert api.get(status_path, headers={"X-Client-Secret": "pi_x_secret_wrong"}).status_code == 404
    assert api.get_ok(status_path, headers=secret)["status"] == "PENDING"
    stripe.pay(started["payment_intent_id"])
    status = _poll(
        lambda: api.get_ok(status_path, headers=secret),
        lambda body: body["status"] == "COMPLETED",
        what="status COMPLETED",
    )

    assert status["payment_intent_id"] == started["payment_intent_id"]
    assert (status["hours"], status["amount"], status["failure_reason"]) == ("10.00", "140.00", "")
    assert status["paid_at"] is not None
    assert status["expires_at"] is not None
    purchase = PurchaseTransaction.objects.select_related("student").get(
        pk=started["transaction_id"]
    )
    assert (purchase.student.email, purchase.student.is_guest) == ("ana@example.com", True)
    assert purchase.student.account_balance.remaining_minutes == 600
    assert _credits(purchase).count() == 1
    _assert_processed_log(stripe, "payment_intent.succeeded", purchase)
    _assert_verify_ledger_clean()


def test_a_declined_card_fails_the_purchase_and_a_new_purchase_then_succeeds(stripe, api):
    plan = PricingPlanFactory(minutes=600, price_cents=14000)
    student, token = _student_with_token()

    declined = api.initiate({"plan_id": plan.pk}, token=token)
    card_error = stripe.decline(declined["payment_intent_id"])
    assert card_error.user_message == "Your card was declined."
    failed = _poll(
        lambda: api.get_ok(f"purchase/{declined['transaction_id']}/status/", token=token),
        lambda body: body["status"] == "FAILED",
        what="status FAILED",
    )

    assert failed["failure_reason"] == "Your card was declined."
    first = PurchaseTransaction.objects.get(pk=declined["transaction_id"])
    _assert_processed_log(stripe, "payment_intent.payment_failed", first)
    assert not HoursLedgerEntry.objects.filter(student=student).exists()
    assert api.get_ok("balance/", token=token)["minutes_available"] == 0

    # localstripe cannot retry a declined PaymentIntent: the buyer starts a new purchase.
    retried = api.initiate({"plan_id": plan.pk}, token=token)
    assert retried["payment_intent_id"] != declined["payment_intent_id"]
    stripe.pay(retried["payment_intent_id"])
    _poll(
        lambda: api.get_ok("balance/", token=token),
        lambda body: body["minutes_available"] == 600,
        what="600 minutes in the balance",
    )

    first.refresh_from_db()
    second = PurchaseTransaction.objects.get(pk=retried["transaction_id"])
    assert (first.status, second.status) == (Status.FAILED, Status.COMPLETED)
    assert not _credits(first).exists()
    assert _credits(second).count() == 1
    _assert_processed_log(stripe, "payment_intent.succeeded", second)
    _assert_verify_ledger_clean()
