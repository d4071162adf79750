"""The read paths an operator or a load balancer hits use the indexes made for them.

A few thousand rows of history (bench/scale_load.py, the same bulk SQL as
`make bench-scale`) and ANALYZE are enough for PostgreSQL's planner to choose as it does at
a million rows; then each page's statements are run again under EXPLAIN. Plans, not
timings: timings live in docs/benchmarks.md."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.scale_load import history_load
from finances.models import PurchaseTransaction, WebhookEventLog
from tests.factories import StaffUserFactory

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]

PURCHASES = 6000
BIG_TABLES = (
    "finances_webhookeventlog",
    "finances_purchasetransaction",
    "finances_hoursledgerentry",
)


@pytest.fixture
def history(settings):
    call_command("seed_pricing_plans", verbosity=0)
    history_load(purchases=PURCHASES, log=lambda line: None)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # Large enough to be estimated: the metrics read the big statuses from statistics.
    settings.COUNT_ESTIMATE_MIN_ROWS = 1000
    settings.METRICS_ENABLED = True
    settings.METRICS_BEARER_TOKEN = ""


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _plans_of_page(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return [
        f"{query['sql']}\n{_plan(query['sql'])}"
        for query in captured.captured_queries
        if query["sql"].lstrip().upper().startswith("SELECT")
        and any(table in query["sql"] for table in BIG_TABLES)
    ]


def _scans_of_big_tables(plans: list[str]) -> list[str]:
    return [plan for plan in plans if any(f"Seq Scan on {table}" in plan for table in BIG_TABLES)]


def test_the_oldest_unfinished_event_is_read_from_the_unfinished_events_index(history):
    oldest = WebhookEventLog.objects.unfinished().order_by("received_at").values("received_at")
    sql, params = oldest[:1].query.sql_with_params()

    plan = _plan(connection.cursor().mogrify(sql, params))

    assert "webhook_unfinished_idx" in plan, plan


def test_the_backlog_is_counted_from_the_unfinished_events_index(history):
    queryset = WebhookEventLog.objects.unfinished()

    plan = queryset.explain()

    assert queryset.count() == 30  # the bench history's backlog: FAILED, awaiting a retry
    assert "webhook_unfinished_idx" in plan, plan


def test_health_reads_no_big_table_whole(history, client):
    client.force_login(StaffUserFactory())

    plans = _plans_of_page(client, "/health/?stripe=false")

    assert any("webhook_unfinished_idx" in plan for plan in plans), plans
    assert _scans_of_big_tables(plans) == []


def test_metrics_read_no_big_table_whole(history, client):
    plans = _plans_of_page(client, "/metrics/")

    assert plans
    assert _scans_of_big_tables(plans) == []


@pytest.mark.parametrize(
    ("path", "index"),
    [
        ("/admin/finances/webhookeventlog/", "webhook_received_id_idx"),
        ("/admin/finances/purchasetransaction/", "purchase_created_id_idx"),
        ("/admin/finances/hoursledgerentry/", "ledger_created_id_idx"),
    ],
)
def test_an_admin_changelist_reads_its_page_from_the_index_of_its_ordering(
    history, admin_client, path, index
):
    plans = _plans_of_page(admin_client, path)

    assert any(index in plan and "Backward" in plan for plan in plans), plans
    assert _scans_of_big_tables(plans) == []


@pytest.mark.parametrize(
    ("path", "index"),
    [
        ("/admin/finances/purchasetransaction/?q=pi_scale3001", "purchase_payment_intent_unique"),
        ("/admin/finances/purchasetransaction/?q=ch_scale3001", "purchase_charge_idx"),
        ("/admin/finances/purchasetransaction/?q=cus_scale11", "purchase_customer_idx"),
        ("/admin/finances/webhookeventlog/?q=evt_scale3001", "webhook_event_id_unique"),
        ("/admin/finances/webhookeventlog/?q=pi_scale3001", "webhook_object_idx"),
        ("/admin/finances/hoursledgerentry/?q=evt_scale3001", "ledger_stripe_event_idx"),
        ("/admin/finances/hoursledgerentry/?q=pi_scale3001", "purchase_payment_intent_unique"),
        ("/admin/finances/hoursledgerentry/?q=credit:abc", "ledger_idempotency_key_unique"),
    ],
)
def test_an_admin_search_by_an_exact_id_uses_its_unique_or_partial_index(
    history, admin_client, path, index
):
    plans = _plans_of_page(admin_client, path)

    assert any(index in plan for plan in plans), plans
    assert _scans_of_big_tables(plans) == []


@pytest.mark.parametrize(
    "path",
    [
        "/admin/finances/purchasetransaction/?q=scale-student-11@example.com",
        "/admin/finances/webhookeventlog/?q=Scale-Student-11@",
        "/admin/finances/hoursledgerentry/?q=scale-student-11",
    ],
)
def test_an_admin_search_by_email_reads_no_big_table_whole(history, admin_client, path):
    plans = _plans_of_page(admin_client, path)

    assert plans
    assert _scans_of_big_tables(plans) == []


def test_an_admin_search_by_an_id_is_case_sensitive(history, admin_client):
    response = admin_client.get("/admin/finances/purchasetransaction/?q=PI_SCALE3001")

    assert response.context["cl"].result_count == 0
    found = admin_client.get("/admin/finances/purchasetransaction/?q=pi_scale3001")
    assert [p.stripe_payment_intent_id for p in found.context["cl"].result_list] == ["pi_scale3001"]


def test_the_expiry_run_reads_only_the_open_lots_that_are_due(history):
    due = PurchaseTransaction.objects.filter(
        lot_open=True, expires_at__lte=datetime(2100, 1, 1, tzinfo=UTC)
    )

    plan = due.explain()

    assert "purchase_open_lot_idx" in plan, plan
