"""`manage.py test_stripe_webhook`: the deployment's own end-to-end webhook check."""

import logging
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import User
from finances import stripe_gateway
from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.checkouts import abandoned_checkouts
from finances.services.expiry import packages_expire
from finances.services.reconciliation import purchases_to_reconcile
from finances.services.webhook_self_test import TEST_EMAIL_DOMAIN
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory
from tests.support.operations_helpers import assert_ledger_clean, lot_entries, run_manage
from tests.support.payments import purchase_pay

pytestmark = pytest.mark.django_db

WEBHOOK_PATH = "/api/finances/webhooks/stripe/"


@pytest.fixture(autouse=True)
def _finances_log_level_restored():
    """The command lowers the `finances` logger's verbosity for the whole process; put it
    back so that other tests' log assertions are not affected."""
    logger = logging.getLogger("finances")
    level = logger.level
    yield
    logger.setLevel(level)


def _run(*arguments: str) -> str:
    out = StringIO()
    call_command("test_stripe_webhook", *arguments, stdout=out, no_color=True)
    return out.getvalue()


def _failing(*arguments: str) -> tuple[str, CommandError]:
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("test_stripe_webhook", *arguments, stdout=out, no_color=True)
    return out.getvalue(), raised.value


def _check_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("[")]


def test_validate_config_passes_against_localstripe(localstripe):
    output = _run("--validate-config")

    lines = _check_lines(output)
    assert len(lines) == 7
    assert all(line.startswith("[PASS]") for line in lines), lines
    assert f"[PASS] Stripe answers with this key  ({localstripe.api_base})" in lines
    assert output.splitlines()[-1] == "7 checks passed, 0 failed."


def test_validate_config_shows_the_pinned_stripe_api_version(localstripe, settings):
    settings.STRIPE_API_VERSION = "2024-06-20"

    lines = _check_lines(_run("--validate-config"))

    assert (
        "[PASS] STRIPE_API_VERSION pins the Stripe API version  (2024-06-20 "
        f"(the SDK was generated for {stripe_gateway.SDK_API_VERSION}))"
    ) in lines


def test_validate_config_fails_on_an_api_version_that_is_not_one(localstripe, settings):
    settings.STRIPE_API_VERSION = "latest"

    output, error = _failing("--validate-config")

    assert "[FAIL] STRIPE_API_VERSION pins the Stripe API version  (latest" in output
    assert str(error) == "6 checks passed, 1 failed."


def test_validate_config_fails_on_a_malformed_webhook_secret(localstripe, settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["not-a-webhook-secret"]

    output, error = _failing("--validate-config")

    assert "[FAIL] STRIPE_WEBHOOK_SECRET(S) configured  (1 secret(s))" in _check_lines(output)
    assert str(error) == "6 checks passed, 1 failed."
    assert error.returncode == 1


def test_validate_config_fails_when_stripe_is_unreachable():
    output, error = _failing("--validate-config")  # Stripe: a refusing port

    assert (
        "[FAIL] Stripe answers with this key  (payment_provider_unavailable: "
        "The payment provider is unavailable. Try again in a moment.)"
    ) in _check_lines(output)
    assert str(error) == "6 checks passed, 1 failed."


def _test_purchases() -> dict[str, PurchaseTransaction]:
    purchases = PurchaseTransaction.objects.filter(
        student__email__endswith=f"@{TEST_EMAIL_DOMAIN}"
    ).order_by("created_at")
    assert purchases.count() == 3
    assert len({purchase.student_id for purchase in purchases}) == 1
    return {purchase.status: purchase for purchase in purchases}


def _assert_the_claimed_effects() -> None:
    by_status = _test_purchases()
    assert set(by_status) == {"COMPLETED", "FAILED", "CANCELLED"}
    completed = by_status["COMPLETED"]
    assert list(
        HoursLedgerEntry.objects.filter(purchase_transaction=completed).values_list(
            "entry_type", "minutes"
        )
    ) == [("CREDIT", completed.minutes)]
    assert by_status["FAILED"].failure_reason == "Self-test decline."
    student = User.objects.get(pk=completed.student_id)
    assert student.name == "Webhook Test Student"
    assert student.account_balance.remaining_minutes == completed.minutes
    statuses = WebhookEventLog.objects.values_list("event_type", "status", "delivery_count")
    assert sorted(statuses) == [
        ("payment_intent.canceled", "PROCESSED", 1),
        ("payment_intent.payment_failed", "PROCESSED", 1),
        ("payment_intent.succeeded", "PROCESSED", 2),
    ]
    assert_ledger_clean()


def test_test_endpoint_passes_through_the_test_client_with_the_effects_it_claims(localstripe):
    PricingPlanFactory(minutes=600, price_cents=14000)

    output = _run("--test-endpoint", "--keep")

    lines = _check_lines(output)
    assert len(lines) == 7
    assert all(line.startswith("[PASS]") for line in lines), lines
    assert output.splitlines()[-1] == "7 checks passed, 0 failed."
    _assert_the_claimed_effects()


def test_test_endpoint_without_a_package_plan_fails():
    output, error = _failing("--test-endpoint")

    assert _check_lines(output) == [
        "[FAIL] create test purchases  (no_plan: No active package plan; run seed_pricing_plans.)",
        "[PASS] remove test data  (0 purchases, 0 students, 0 ledger entries, 0 webhook events)",
    ]
    assert str(error) == "1 checks passed, 1 failed."


@pytest.mark.django_db(transaction=True)
def test_test_endpoint_over_http_against_a_live_server_passes(localstripe, live_server):
    PricingPlanFactory(minutes=600, price_cents=14000)

    output = _run("--test-endpoint", "--keep", "--base-url", live_server.url)

    lines = _check_lines(output)
    assert all(line.startswith("[PASS]") for line in lines), lines
    assert output.splitlines()[-1] == "7 checks passed, 0 failed."
    _assert_the_claimed_effects()


def test_stripe_cli_instructions_name_the_webhook_url():
    output = _run("--stripe-cli-instructions", "--base-url", "https://pay.example.org/")

    url = f"https://pay.example.org{WEBHOOK_PATH}"
    assert f"stripe listen --forward-to {url}" in output
    assert "stripe trigger payment_intent.succeeded" in output
    assert "stripe trigger payment_intent.payment_failed" in output
    assert "stripe trigger payment_intent.canceled" in output
    assert "stripe events resend <evt_id>" in output
    assert f"URL:    {url}" in output
    assert output.splitlines()[-1] == "0 checks passed, 0 failed."


def test_stripe_cli_instructions_default_to_the_public_base_url(settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"

    output = _run("--stripe-cli-instructions")

    assert f"stripe listen --forward-to http://127.0.0.1:8000{WEBHOOK_PATH}" in output


def test_all_runs_every_check_and_prints_the_instructions(localstripe):
    PricingPlanFactory()

    output = _run("--all", "--keep")

    lines = _check_lines(output)
    assert len(lines) == 7 + 7
    assert all(line.startswith("[PASS]") for line in lines), lines
    assert "stripe listen --forward-to" in output
    assert output.splitlines()[-1] == "14 checks passed, 0 failed."
    # --all includes the endpoint test, which creates its own data: one set only.
    assert PurchaseTransaction.objects.count() == 3


def test_create_test_data_makes_three_pending_purchases_with_payment_intents(localstripe):
    PricingPlanFactory()

    output = _run("--create-test-data")

    assert output.splitlines()[-1] == "1 checks passed, 0 failed."
    assert set(_test_purchases()) == {"PENDING"}
    for purchase in PurchaseTransaction.objects.all():
        assert localstripe.retrieve(purchase.stripe_payment_intent_id).amount == 14000
        assert purchase.metadata == {"created_by": "test_stripe_webhook", "test_data": True}


def test_no_option_is_refused():
    with pytest.raises(CommandError, match="Choose at least one of --validate-config"):
        _run()


def test_the_command_leaves_the_finances_log_level_as_it_found_it(localstripe):
    logger = logging.getLogger("finances")
    logger.setLevel(logging.INFO)

    _run("--validate-config")

    assert logger.level == logging.INFO


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_failing_check_exits_1(capsys, settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_"]

    result = run_manage(capsys, "test_stripe_webhook", "--validate-config")

    assert result.exit_code == 1
    assert "[FAIL] STRIPE_WEBHOOK_SECRET(S) configured" in result.stdout
    assert "CommandError: 5 checks passed, 2 failed." in result.stderr


def test_the_endpoint_test_removes_its_data_and_leaves_real_purchases_alone(localstripe):
    PricingPlanFactory(minutes=600, price_cents=14000)
    real = PurchaseTransactionFactory()
    purchase_pay(real)

    output = _run("--test-endpoint")

    lines = _check_lines(output)
    assert all(line.startswith("[PASS]") for line in lines), lines
    assert lines[-1] == (
        "[PASS] remove test data  (3 purchases, 1 students, 1 ledger entries, 3 webhook events)"
    )
    assert output.splitlines()[-1] == "8 checks passed, 0 failed."
    assert list(PurchaseTransaction.objects.values_list("pk", flat=True)) == [real.pk]
    assert list(HoursLedgerEntry.objects.values_list("purchase_transaction_id", flat=True)) == [
        real.pk
    ]
    assert not WebhookEventLog.objects.exists()
    assert not User.objects.filter(email__endswith=f"@{TEST_EMAIL_DOMAIN}").exists()
    assert_ledger_clean()


def test_created_test_data_is_marked_kept_and_removed_on_request(localstripe):
    PricingPlanFactory()

    _run("--create-test-data")

    assert set(PurchaseTransaction.objects.values_list("is_test_data", flat=True)) == {True}
    assert PurchaseTransaction.objects.count() == 3

    output = _run("--remove-test-data")

    assert "[PASS] remove test data  (3 purchases, 1 students" in output
    assert not PurchaseTransaction.objects.exists()


@pytest.mark.parametrize("key", ["sk_live_0123456789", "rk_live_0123456789"])
@pytest.mark.parametrize("option", ["--all", "--test-endpoint", "--create-test-data"])
def test_a_live_key_is_refused_unless_allowed(settings, key, option):
    settings.STRIPE_SECRET_KEY = key
    PricingPlanFactory()

    with pytest.raises(CommandError, match="live key"):
        _run(option)

    assert not PurchaseTransaction.objects.exists()


def test_a_live_key_still_prints_the_instructions_and_runs_with_allow_live(settings):
    settings.STRIPE_SECRET_KEY = "sk_live_0123456789"

    assert "stripe listen" in _run("--stripe-cli-instructions")
    output, error = _failing("--validate-config", "--allow-live")  # Stripe: a refusing port

    assert "[FAIL] Stripe answers with this key" in output
    assert "live key" not in str(error)


def test_test_data_is_left_out_of_metrics_reconciliation_and_expiry(
    api_client, settings, time_machine
):
    settings.METRICS_ENABLED = True
    settings.METRICS_BEARER_TOKEN = ""
    time_machine.move_to("2026-01-10 12:00:00+00:00", tick=False)
    test_purchase = PurchaseTransactionFactory(is_test_data=True)
    purchase_pay(test_purchase)
    real = PurchaseTransactionFactory()
    time_machine.shift(timedelta(days=400))

    metrics = api_client.get("/metrics/").content.decode()
    to_reconcile = list(purchases_to_reconcile(older_than=timedelta(0)))
    expiry = packages_expire()
    abandoned = list(abandoned_checkouts(now=timezone.now(), older_than=timedelta(hours=24)))

    assert 'aprende_purchases{status="PENDING"} 1.0' in metrics
    assert "COMPLETED" not in metrics
    assert to_reconcile == [real]
    assert expiry.lots == []
    assert abandoned == [real]
    assert lot_entries(test_purchase) == [("CREDIT", test_purchase.minutes)]


@contextmanager
def _test_data_deletion_allowed():
    """What `self_test_data_remove` does: the setting, for this transaction only."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL aprende.delete_test_data = 'on'")
        yield


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)  # real transactions: SET LOCAL ends with each
def test_on_postgresql_only_test_data_ledger_entries_can_be_deleted_and_only_deliberately():
    real = PurchaseTransactionFactory()
    purchase_pay(real)
    first, second = PurchaseTransactionFactory.create_batch(2, is_test_data=True)
    purchase_pay(first)
    purchase_pay(second)
    entries = HoursLedgerEntry.objects

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entries.filter(purchase_transaction=first).delete()  # the setting is not on
    with pytest.raises(DatabaseError, match="append-only"), _test_data_deletion_allowed():
        entries.filter(purchase_transaction=real).delete()  # not test data
    with _test_data_deletion_allowed():
        deleted, _ = entries.filter(purchase_transaction=first).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entries.filter(purchase_transaction=second).delete()  # the setting ended

    assert deleted == 1
    assert entries.filter(purchase_transaction__in=[real, second]).count() == 2
