"""How many SQL statements and round trips the hot paths cost, against the targets of the
performance issues. Counts, not timings: timings live in bench/.

Round trips are counted at the driver (libpq's protocol trace, bench/round_trips.py):
they include psycopg's BEGIN and CONN_HEALTH_CHECKS' `SELECT 1`, which Django's query
capture never sees. Each request starts as production's do: `close_old_connections`
(request_started, which the test client leaves out) marks the connection for its health
check first."""

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from bench.round_trips import driver_round_trips
from finances.services.purchases import purchase_initiate
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory
from tests.support.stripe_events import post_event
from tests.support.webhook_pipeline_helpers import succeeded_event

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _statements(action) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        action()
    return [query["sql"] for query in captured.captured_queries]


def test_a_first_payment_intent_succeeded_costs_at_most_fourteen_statements(client):
    # 9 for the event and the credit, plus the buyer's receipt written in the same
    # transaction: the payer's row, the notification (in a savepoint, for idempotency) and
    # its send job. Without the receipt it is the performance issue's 10 at most:
    # test_without_buyer_emails_a_first_delivery_costs_at_most_ten_statements.
    document = succeeded_event(PurchaseTransactionFactory())

    statements = _statements(lambda: post_event(client, document))

    print(f"first delivery: {len(statements)} statements")
    assert len(statements) <= 14, statements


def test_without_buyer_emails_a_first_delivery_costs_at_most_ten_statements(client, settings):
    settings.BUYER_EMAILS_ENABLED = False
    document = succeeded_event(PurchaseTransactionFactory())

    statements = _statements(lambda: post_event(client, document))

    assert len(statements) <= 10, statements


def test_a_duplicate_delivery_costs_at_most_four_statements(client):
    document = succeeded_event(PurchaseTransactionFactory())
    post_event(client, document)

    statements = _statements(lambda: post_event(client, document))

    print(f"duplicate delivery: {len(statements)} statements")
    assert len(statements) <= 4, statements


def test_a_guest_purchase_initiation_costs_at_most_twelve_statements(localstripe):
    plan = PricingPlanFactory()

    statements = _statements(
        lambda: purchase_initiate(
            plan_id=plan.pk, buyer=None, student_name="Ana", student_email="ana@example.com"
        )
    )

    print(f"guest initiation: {len(statements)} statements")
    assert len(statements) <= 12, statements


def _round_trips(action):
    close_old_connections()  # as at the start of every request in production
    with driver_round_trips(connection) as counted:
        action()
    return counted


def test_a_first_delivery_on_a_busy_connection_costs_four_round_trips(client, settings):
    settings.BUYER_EMAILS_ENABLED = False  # the money engine alone; the receipt is below
    post_event(client, succeeded_event(PurchaseTransactionFactory()))  # the connection is busy
    document = succeeded_event(PurchaseTransactionFactory())

    counted = _round_trips(lambda: post_event(client, document))

    # The event's INSERT (committed on its own), then BEGIN, one statement that locks and
    # completes the purchase, credits the ledger and the balance and finishes the event
    # row (finances/services/package_completion.py), COMMIT. No health check: the
    # connection was just used.
    print(counted)
    assert counted.count == 4, counted
    assert "SELECT 1" not in counted.statements


def test_the_receipt_adds_one_round_trip_to_a_first_delivery(client):
    post_event(client, succeeded_event(PurchaseTransactionFactory()))  # the connection is busy
    document = succeeded_event(PurchaseTransactionFactory())

    counted = _round_trips(lambda: post_event(client, document))

    # The four above, plus one statement for the message and its send job (the payer's
    # address and language came with the purchase's statement); no savepoint.
    print(counted)
    assert counted.count == 5, counted
    assert not [s for s in counted.statements if s.startswith('INSERT INTO "django_q_ormq"')]
    assert not [statement for statement in counted.statements if "SAVEPOINT" in statement]


def test_a_duplicate_delivery_on_a_busy_connection_costs_one_round_trip(client):
    document = succeeded_event(PurchaseTransactionFactory())
    post_event(client, document)

    counted = _round_trips(lambda: post_event(client, document))

    print(counted)
    assert counted.count == 1, counted


def test_the_first_webhook_on_an_idle_connection_checks_the_connection_first(client, settings):
    settings.WEBHOOK_DB_HEALTH_CHECK_IDLE_SECONDS = 0
    document = succeeded_event(PurchaseTransactionFactory())
    post_event(client, document)

    counted = _round_trips(lambda: post_event(client, document))

    assert counted.statements[0] == "SELECT 1", counted
    assert counted.count == 2, counted


def test_a_guest_purchase_initiation_costs_at_most_twelve_round_trips(localstripe):
    plan = PricingPlanFactory()

    counted = _round_trips(
        lambda: purchase_initiate(
            plan_id=plan.pk, buyer=None, student_name="Ana", student_email="ana@example.com"
        )
    )

    # SELECT 1, the plan, BEGIN, the user, SAVEPOINT, user, balance, RELEASE, the family
    # rules' check (the student's active guardian links), purchase, COMMIT, then (after the
    # Stripe call) the PaymentIntent id's UPDATE.
    print(counted)
    assert counted.count <= 12, counted


def test_a_guest_initiation_through_the_api_reads_its_plan_once(client, localstripe):
    plan = PricingPlanFactory()
    body = {"plan_id": plan.pk, "student_info": {"name": "Ana", "email": "ana@example.com"}}

    counted = _round_trips(
        lambda: client.post(
            "/api/finances/purchase/initiate/", body, content_type="application/json"
        )
    )

    plan_reads = [s for s in counted.statements if s.startswith('SELECT "finances_pricingplan"')]
    assert len(plan_reads) == 1, counted
    assert counted.count <= 12, counted
