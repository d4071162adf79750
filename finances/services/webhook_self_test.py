"""`manage.py test_stripe_webhook`: prove the whole webhook path works on this deployment.

Each check returns a `CheckResult`. The endpoint test really sends signed events through
the webhook URL (over HTTP to a running server, or through Django's test client) and then
checks their *effects* in the database: statuses, the ledger, one credit only.
"""

import json
import re
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.test import Client
from django.urls import NoReverseMatch, resolve, reverse

from accounts.models import User
from core.errors import ApplicationError
from finances import stripe_gateway
from finances.models import (
    HoursLedgerEntry,
    PricingPlan,
    PurchaseTransaction,
    StudentAccountBalance,
    WebhookEventLog,
)
from finances.services.purchases import purchase_initiate
from finances.webhooks.events import WEBHOOK_ENDPOINT_EVENTS

# Reserved (RFC 2606 `.invalid`): no real person has an address here.
TEST_EMAIL_DOMAIN = "test-data.invalid"
TEST_EVENT_PREFIX = "evt_selftest_"


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class SelfTestReport:
    results: list[CheckResult] = field(default_factory=list)

    def add(self, name: str, passed: bool, detail: str = "") -> bool:
        self.results.append(CheckResult(name, passed, detail))
        return passed

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if not result.passed]


@dataclass(frozen=True)
class WebhookResponse:
    status_code: int
    body: dict


def webhook_path() -> str:
    return reverse("finances:stripe-webhook")


def self_test_configuration_validate(report: SelfTestReport, *, base_url: str | None) -> None:
    key = settings.STRIPE_SECRET_KEY
    report.add(
        "STRIPE_SECRET_KEY is a secret or restricted key",
        key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")) and len(key) > 10,
        "live mode" if settings.STRIPE_LIVEMODE else "test mode",
    )
    secrets = settings.STRIPE_WEBHOOK_SECRETS
    report.add(
        "STRIPE_WEBHOOK_SECRET(S) configured",
        bool(secrets)
        and all(secret.startswith("whsec_") and len(secret) > 10 for secret in secrets),
        f"{len(secrets)} secret(s)",
    )
    if settings.STRIPE_LIVEMODE:
        report.add(
            "the development webhook secret is not used with a live key",
            settings.DEVELOPMENT_WEBHOOK_SECRET not in secrets,
        )
    report.add(
        "webhook timestamp tolerance is sane",
        30 <= settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS <= 3600,
        f"{settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS} s",
    )
    api_base = urlparse(settings.STRIPE_API_BASE)
    report.add(
        "STRIPE_API_BASE is an http(s) URL",
        api_base.scheme in ("http", "https") and bool(api_base.netloc),
        settings.STRIPE_API_BASE,
    )
    report.add(
        "STRIPE_API_VERSION pins the Stripe API version",
        _looks_like_api_version(settings.STRIPE_API_VERSION),
        settings.STRIPE_API_VERSION
        + (
            ""
            if settings.STRIPE_API_VERSION == stripe_gateway.SDK_API_VERSION
            else f" (the SDK was generated for {stripe_gateway.SDK_API_VERSION})"
        ),
    )
    try:
        stripe_gateway.account_check()
        report.add("Stripe answers with this key", True, settings.STRIPE_API_BASE)
    except ApplicationError as error:
        report.add("Stripe answers with this key", False, f"{error.code}: {error.message}")
    try:
        path = webhook_path()
        resolved = resolve(path).url_name == "stripe-webhook"
        report.add("webhook URL resolves", resolved, (base_url or "") + path)
    except NoReverseMatch as error:
        report.add("webhook URL resolves", False, str(error))


def _looks_like_api_version(version: str) -> bool:
    """`2026-10-28.endive` or an older `2024-06-20`."""
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.[a-z_]+)?", version) is not None


def self_test_data_create(*, label: str = "") -> list[PurchaseTransaction]:
    """Three purchases of the cheapest active package for a clearly marked test student,
    each with a real PaymentIntent at the configured Stripe."""
    plan = (
        PricingPlan.objects.filter(is_active=True, plan_type=PricingPlan.PlanType.PACKAGE)
        .order_by("price_cents")
        .first()
    )
    if plan is None:
        raise ApplicationError("No active package plan; run seed_pricing_plans.", code="no_plan")
    marker = label or uuid.uuid4().hex[:10]
    purchases = []
    for _ in range(3):
        initiation = purchase_initiate(
            plan_id=plan.pk,
            buyer=None,
            student_name="Webhook Test Student",
            student_email=f"student-{marker}@{TEST_EMAIL_DOMAIN}",
        )
        PurchaseTransaction.objects.filter(pk=initiation.purchase.pk).update(
            metadata={"created_by": "test_stripe_webhook", "test_data": True}, is_test_data=True
        )
        purchases.append(initiation.purchase)
    return purchases


@dataclass(frozen=True)
class TestDataRemoval:
    purchases: int
    students: int
    ledger_entries: int
    events: int

    def __str__(self) -> str:
        return (
            f"{self.purchases} purchases, {self.students} students, "
            f"{self.ledger_entries} ledger entries, {self.events} webhook events"
        )


def self_test_data_remove() -> TestDataRemoval:
    """Deletes every purchase marked `is_test_data`, its ledger entries and webhook events,
    and the test-domain students left without purchases, in one transaction.

    The ledger is append-only: on PostgreSQL its trigger lets these DELETEs through only
    with `aprende.delete_test_data` set for this transaction *and* only for entries of
    purchases marked as test data (migration 0008), so a real entry cannot go this way.
    """
    with transaction.atomic(durable=True):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL aprende.delete_test_data = 'on'")
        purchases = PurchaseTransaction.objects.filter(is_test_data=True)
        purchase_ids = list(purchases.values_list("pk", flat=True))
        student_ids = set(purchases.values_list("student_id", flat=True))
        events, _ = WebhookEventLog.objects.filter(
            Q(purchase_transaction_id__in=purchase_ids)
            | Q(stripe_event_id__startswith=TEST_EVENT_PREFIX)
        ).delete()
        entries, _ = HoursLedgerEntry.objects.filter(
            purchase_transaction_id__in=purchase_ids
        ).delete()
        purchases.delete()
        students = User.objects.filter(
            pk__in=student_ids,
            email__endswith=f"@{TEST_EMAIL_DOMAIN}",
            purchases__isnull=True,
            ledger_entries__isnull=True,
        )
        StudentAccountBalance.objects.filter(student__in=students).delete()
        removed_students = len(students)
        students.delete()
    return TestDataRemoval(len(purchase_ids), removed_students, entries, events)


def _payment_intent_document(purchase: PurchaseTransaction, *, status: str) -> dict:
    created = int(time.time())
    charge = {
        "id": f"ch_selftest_{uuid.uuid4().hex[:12]}",
        "object": "charge",
        "amount": purchase.amount_cents,
        "amount_refunded": 0,
        "currency": purchase.currency.lower(),
        "created": created,
        "livemode": purchase.livemode,
        "payment_intent": purchase.stripe_payment_intent_id,
        "status": "succeeded",
    }
    return {
        "id": purchase.stripe_payment_intent_id,
        "object": "payment_intent",
        "amount": purchase.amount_cents,
        "amount_received": purchase.amount_cents if status == "succeeded" else 0,
        "currency": purchase.currency.lower(),
        "status": status,
        "livemode": purchase.livemode,
        "created": created,
        "metadata": {
            "application": settings.STRIPE_METADATA_APPLICATION,
            "transaction_id": str(purchase.pk),
        },
        "latest_charge": charge if status == "succeeded" else None,
        "last_payment_error": {"message": "Self-test decline.", "code": "card_declined"}
        if status == "requires_payment_method"
        else None,
    }


def _event(event_type: str, data_object: dict) -> str:
    return json.dumps(
        {
            "id": f"{TEST_EVENT_PREFIX}{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "api_version": "self-test",
            "created": int(time.time()),
            "livemode": data_object.get("livemode", False),
            "data": {"object": data_object},
        }
    )


def _sender(base_url: str | None) -> Callable[..., WebhookResponse]:
    """POST (or another method) to the webhook URL over HTTP, or through the test client."""
    path = webhook_path()
    if base_url:

        def send(payload: str = "", signature: str | None = None, method: str = "POST"):
            headers = {"Content-Type": "application/json"}
            if signature:
                headers["Stripe-Signature"] = signature
            response = requests.request(
                method,
                base_url.rstrip("/") + path,
                data=payload.encode(),
                headers=headers,
                timeout=30,
            )
            try:
                body = response.json()
            except ValueError:
                body = {}
            return WebhookResponse(response.status_code, body)

        return send

    host = next((host.lstrip(".") for host in settings.ALLOWED_HOSTS if host != "*"), "localhost")
    client = Client(HTTP_HOST=host)

    def send(payload: str = "", signature: str | None = None, method: str = "POST"):
        extra = {"HTTP_STRIPE_SIGNATURE": signature} if signature else {}
        response = client.generic(method, path, payload.encode(), "application/json", **extra)
        try:
            body = json.loads(response.content or b"{}")
        except ValueError:
            body = {}
        return WebhookResponse(response.status_code, body)

    return send


def self_test_endpoint_run(report: SelfTestReport, *, base_url: str | None) -> None:
    secret = settings.STRIPE_WEBHOOK_SECRETS[0]
    send = _sender(base_url)

    def signed(event_type: str, purchase: PurchaseTransaction, status: str) -> tuple[str, str]:
        payload = _event(event_type, _payment_intent_document(purchase, status=status))
        return payload, stripe_gateway.webhook_signature_header(payload=payload, secret=secret)

    try:
        paid, declined, cancelled = self_test_data_create()
    except ApplicationError as error:
        report.add("create test purchases", False, f"{error.code}: {error.message}")
        return
    report.add(
        "create test purchases", True, ", ".join(str(p.pk) for p in (paid, declined, cancelled))
    )

    def status_of(purchase: PurchaseTransaction) -> str:
        return PurchaseTransaction.objects.values_list("status", flat=True).get(pk=purchase.pk)

    payload, signature = signed(
        "payment_intent.payment_failed", declined, "requires_payment_method"
    )
    response = send(payload, signature)
    report.add(
        "payment_intent.payment_failed → 200 and purchase FAILED",
        response.status_code == 200 and status_of(declined) == "FAILED",
        f"HTTP {response.status_code}, purchase {status_of(declined)}",
    )

    payload, signature = signed("payment_intent.succeeded", paid, "succeeded")
    first, duplicate = send(payload, signature), send(payload, signature)
    credits = HoursLedgerEntry.objects.filter(
        purchase_transaction_id=paid.pk, entry_type=HoursLedgerEntry.EntryType.CREDIT
    )
    report.add(
        "payment_intent.succeeded → 200, purchase COMPLETED, hours credited",
        first.status_code == 200 and status_of(paid) == "COMPLETED" and credits.count() == 1,
        f"HTTP {first.status_code}, purchase {status_of(paid)}, "
        f"{sum(credits.values_list('minutes', flat=True))} minutes credited",
    )
    report.add(
        "the same event again → 200 duplicate, credited once",
        duplicate.status_code == 200
        and duplicate.body.get("duplicate") is True
        and credits.count() == 1,
        f"HTTP {duplicate.status_code}, {credits.count()} credit(s)",
    )

    payload, signature = signed("payment_intent.canceled", cancelled, "canceled")
    response = send(payload, signature)
    report.add(
        "payment_intent.canceled → 200 and purchase CANCELLED",
        response.status_code == 200 and status_of(cancelled) == "CANCELLED",
        f"HTTP {response.status_code}, purchase {status_of(cancelled)}",
    )

    payload, _ = signed("payment_intent.succeeded", cancelled, "succeeded")
    bad_signature = stripe_gateway.webhook_signature_header(
        payload=payload, secret="whsec_wrong_secret"
    )
    before = WebhookEventLog.objects.count()
    response = send(payload, bad_signature)
    report.add(
        "a bad signature → 400, nothing recorded",
        response.status_code == 400 and WebhookEventLog.objects.count() == before,
        f"HTTP {response.status_code}",
    )
    response = send(method="GET")
    report.add("GET → 405", response.status_code == 405, f"HTTP {response.status_code}")


def stripe_cli_instructions(*, base_url: str) -> str:
    url = base_url.rstrip("/") + webhook_path()
    events = textwrap.fill(", ".join(WEBHOOK_ENDPOINT_EVENTS), width=88, subsequent_indent=" " * 15)
    return f"""Testing with the Stripe CLI (https://docs.stripe.com/stripe-cli), test mode:

  1. Forward Stripe's events to this deployment (prints a whsec_... signing secret):
       stripe listen --forward-to {url}
     Start the server with that secret (DJANGO_DEBUG=true: a development run; without
     it real Stripe needs DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS as in production):
       DJANGO_DEBUG=true STRIPE_WEBHOOK_SECRET=whsec_... make run
     (keep the existing secret too while rolling: STRIPE_WEBHOOK_SECRETS=whsec_new,whsec_old)

  2. Trigger events (their PaymentIntents are not ours, so they are logged as IGNORED):
       stripe trigger payment_intent.succeeded
       stripe trigger payment_intent.payment_failed
       stripe trigger payment_intent.canceled

  3. Pay one of OUR purchases instead: initiate a purchase through the API, then
       stripe payment_intents confirm <payment_intent_id> --payment-method pm_card_visa
     and watch the webhook log (admin → Webhook event logs) turn PROCESSED.

  4. Deliver an event again (idempotency: the second delivery changes nothing):
       stripe events resend <evt_id> --webhook-endpoint <we_id>
     or, with `stripe listen` running: stripe events resend <evt_id>

  5. In production, create the endpoint (or bring it up to date) with
       manage.py stripe_webhook_endpoint --url {url}
     or in the Dashboard (Developers → Webhooks):
       URL:    {url}
       Events: {events}
"""
