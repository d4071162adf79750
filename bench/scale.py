"""`make bench-scale` = `python -m bench.run --scale [--scale-rows N]`.

Creates (and afterwards drops) its own database, times the webhook's first delivery on
the empty database, bulk-loads two years of history (`bench/scale_load.py`: N purchases,
about 2.1·N ledger entries and N webhook events), then times, in-process through Django's
test client (the whole request path except the socket and gunicorn):

- `GET /health/` (anonymous, `stripe=false`: the Stripe check is cached anyway) and
  `GET /metrics/`;
- the admin changelists of events, purchases, ledger entries and balances, and admin
  searches by PaymentIntent, Charge, Customer and event id and by email;
- the webhook's first delivery on the loaded database and on an empty one (a second
  database), alternating in rounds so both see the same machine;
- `verify_ledger`, the expiry run (the lots due) and the reconciliation's choice of
  purchases (the Stripe calls themselves are bounded by RECONCILE_MAX_PURCHASES_PER_RUN
  and not made here).

Each path runs `--scale-repeat` times; the median is reported. Every statement slower than
`--slow-ms` is run again under `EXPLAIN (ANALYZE, BUFFERS)` and its plan written beside the
results (`bench/results/<stamp>-scale-plans.txt`).
"""

import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_bench_secret_value"
TARGETS_MS = {
    "health": 50,
    "metrics": 250,
    "admin_changelist": 300,
    "admin_search_id": 100,
    "admin_search_email": 300,
}


def _timed_request(client, path: str, **extra) -> tuple[float, list[dict], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(path, **extra)
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, queries.captured_queries, response.status_code


class Recorder:
    def __init__(self, *, repeat: int, slow_ms: float) -> None:
        self.repeat, self.slow_ms = repeat, slow_ms
        self.results: dict[str, dict] = {}
        self.slow: dict[str, tuple[float, str]] = {}

    def note_queries(self, name: str, queries: list[dict]) -> None:
        for query in queries:
            ms = float(query["time"]) * 1000
            sql = query["sql"]
            if ms >= self.slow_ms and (sql not in self.slow or self.slow[sql][0] < ms):
                self.slow[sql] = (ms, name)

    def get(self, name: str, client, path: str, *, group: str, **extra) -> dict:
        timings, statuses = [], set()
        for _ in range(self.repeat):
            elapsed, queries, status = _timed_request(client, path, **extra)
            timings.append(elapsed)
            statuses.add(status)
            self.note_queries(name, queries)
        result = {
            "path": path,
            "group": group,
            "median_ms": statistics.median(timings),
            "max_ms": max(timings),
            "statements": len(queries),
            "statuses": sorted(statuses),
        }
        self.results[name] = result
        print(f"scale: {name:34} median {result['median_ms']:8.1f} ms {result}", flush=True)
        return result

    def call(self, name: str, function, *, group: str, repeat: int | None = None) -> dict:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        timings = []
        value = None
        for _ in range(repeat or self.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                value = function()
                timings.append((time.perf_counter() - started) * 1000)
            self.note_queries(name, queries)
        result = {
            "group": group,
            "median_ms": statistics.median(timings),
            "max_ms": max(timings),
            "statements": len(queries),
            "value": value,
        }
        self.results[name] = result
        print(f"scale: {name:34} median {result['median_ms']:8.1f} ms value {value}", flush=True)
        return result

    def plans(self) -> str:
        from django.db import connection

        sections = []
        for sql, (ms, name) in sorted(self.slow.items(), key=lambda item: -item[1][0]):
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            sections.append(f"-- {name}: {ms:.1f} ms when measured\n{sql}\n\n{plan}\n")
        return "\n\n".join(sections) or "No statement was slower than the threshold.\n"


def _webhook_first_deliveries(*, count: int, tag: str) -> list[float]:
    """`count` sequential first deliveries of `payment_intent.succeeded` through the test
    client (signature, record, process, remember): the wall time of each, in ms."""
    from django.test import Client

    from bench.fixtures import purchases_create, succeeded_event
    from finances.stripe_gateway import webhook_signature_header

    client = Client()
    timings = []
    for purchase in purchases_create(count=count, tag=tag):
        body = json.dumps(
            succeeded_event(
                payment_intent_id=purchase.stripe_payment_intent_id,
                transaction_id=str(purchase.pk),
            )
        )
        signature = webhook_signature_header(payload=body, secret=SECRET)
        started = time.perf_counter()
        response = client.post(
            "/api/finances/webhooks/stripe/",
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
    return timings


def _use_database(name: str) -> None:
    """Points the default connection at another database (the next query reconnects)."""
    from django.db import connections

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = name


def _webhook_small_vs_loaded(*, small: str, loaded: str, rounds: int, per_round: int) -> dict:
    """First deliveries on the empty and on the loaded database, alternating in rounds (so
    that both see the same machine), after a warm-up on each."""
    timings: dict[str, list[float]] = {"small": [], "loaded": []}
    for name, database in (("small", small), ("loaded", loaded)):
        _use_database(database)
        _webhook_first_deliveries(count=30, tag=f"warm{name}")
    for index in range(rounds):
        order = (("small", small), ("loaded", loaded))
        for name, database in order if index % 2 == 0 else reversed(order):
            _use_database(database)
            timings[name] += _webhook_first_deliveries(count=per_round, tag=f"{name}{index}")
    _use_database(loaded)
    result = {
        name: {
            "count": len(values),
            "median_ms": statistics.median(values),
            "p90_ms": statistics.quantiles(values, n=10)[-1],
        }
        for name, values in timings.items()
    }
    result["rounds"] = rounds
    return result


def _vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def _read_paths(recorder: Recorder, *, rows: int) -> None:
    from django.test import Client

    from accounts.models import User

    client = Client()
    recorder.get("health", client, "/health/?stripe=false", group="health")
    recorder.get("metrics", client, "/metrics/", group="metrics")
    admin = User.objects.filter(email="bench-admin@example.com").first() or (
        User.objects.create_superuser("bench-admin@example.com", "bench-password", name="Bench")
    )
    client.force_login(admin)
    middle = max(1, rows // 2)
    for name, path in [
        ("admin_events", "/admin/finances/webhookeventlog/"),
        ("admin_purchases", "/admin/finances/purchasetransaction/"),
        ("admin_ledger", "/admin/finances/hoursledgerentry/"),
        ("admin_balances", "/admin/finances/studentaccountbalance/"),
        ("admin_events_filtered_failed", "/admin/finances/webhookeventlog/?status__exact=FAILED"),
    ]:
        recorder.get(name, client, path, group="admin_changelist")
    for name, path in [
        ("search_purchase_by_pi", f"/admin/finances/purchasetransaction/?q=pi_scale{middle}"),
        ("search_purchase_by_charge", f"/admin/finances/purchasetransaction/?q=ch_scale{middle}"),
        ("search_purchase_by_customer", "/admin/finances/purchasetransaction/?q=cus_scale7"),
        ("search_event_by_event_id", f"/admin/finances/webhookeventlog/?q=evt_scale{middle}"),
        ("search_event_by_pi", f"/admin/finances/webhookeventlog/?q=pi_scale{middle}"),
        ("search_ledger_by_pi", f"/admin/finances/hoursledgerentry/?q=pi_scale{middle}"),
        ("search_ledger_by_event_id", f"/admin/finances/hoursledgerentry/?q=evt_scale{middle}"),
    ]:
        recorder.get(name, client, path, group="admin_search_id")
    for name, path in [
        (
            "search_purchase_by_email",
            "/admin/finances/purchasetransaction/?q=scale-student-77@example.com",
        ),
        ("search_event_by_email", "/admin/finances/webhookeventlog/?q=scale-student-77@"),
        ("search_ledger_by_email", "/admin/finances/hoursledgerentry/?q=scale-student-77@"),
    ]:
        recorder.get(name, client, path, group="admin_search_email")


def _jobs(recorder: Recorder) -> None:
    from datetime import timedelta

    from finances.services.expiry import expired_lots_with_unused_minutes, packages_expire
    from finances.services.ledger_verification import ledger_verify
    from finances.services.reconciliation import purchases_to_reconcile

    recorder.call(
        "reconcile_choice",
        lambda: len(
            list(
                purchases_to_reconcile(
                    older_than=timedelta(minutes=30),
                    created_from=datetime.now(UTC) - timedelta(days=30),
                    limit=200,
                ).values_list("pk", flat=True)
            )
        ),
        group="jobs",
    )
    recorder.call(
        "expiry_lots_due",
        lambda: len(expired_lots_with_unused_minutes(now=datetime.now(UTC))),
        group="jobs",
    )
    recorder.call("expiry_run", lambda: len(packages_expire().lots), group="jobs", repeat=1)
    recorder.call("expiry_run_again", lambda: len(packages_expire().lots), group="jobs", repeat=1)
    recorder.call(
        "verify_ledger",
        lambda: (lambda r: f"clean={r.is_clean} lots={r.lots_checked}")(ledger_verify()),
        group="jobs",
        repeat=1,
    )


def scale_main(arguments, argv) -> int:
    import psycopg

    database = arguments.scale_database
    small = f"{database}_small"
    with psycopg.connect(f"{arguments.postgres}/postgres", autocommit=True) as admin:
        for name in (database, small):
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {name}")
    environment = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_READ_DOT_ENV": "false",
        "DATABASE_URL": f"{arguments.postgres}/{database}",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "RATE_LIMITING_ENABLED": "false",
        "METRICS_ENABLED": "true",
        "LOG_LEVEL": "WARNING",
        "DATABASE_CONN_MAX_AGE": "3600",
    }
    for key in [k for k in os.environ if k.startswith(("DJANGO_", "STRIPE_"))]:
        os.environ.pop(key)
    os.environ.pop("REDIS_URL", None)
    os.environ.update(environment)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    # The admin pages render in-process, without collectstatic's manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    from bench.run import _machine_basic
    from bench.scale_load import history_load

    results: dict = {"rows": arguments.scale_rows}
    try:
        call_command("migrate", verbosity=0)
        call_command("seed_pricing_plans", verbosity=0)
        started = time.monotonic()
        results["load"] = history_load(purchases=arguments.scale_rows)
        results["load_seconds"] = time.monotonic() - started
        started = time.monotonic()
        _vacuum_analyze()
        results["vacuum_analyze_seconds"] = time.monotonic() - started
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            results["database_size"] = cursor.fetchone()[0]
        recorder = Recorder(repeat=arguments.scale_repeat, slow_ms=arguments.slow_ms)
        _read_paths(recorder, rows=arguments.scale_rows)
        _use_database(small)
        call_command("migrate", verbosity=0)
        call_command("seed_pricing_plans", verbosity=0)
        _use_database(database)
        webhook = _webhook_small_vs_loaded(
            small=small, loaded=database, rounds=6, per_round=arguments.scale_webhooks // 6
        )
        results["webhook_small"], results["webhook_large"] = webhook["small"], webhook["loaded"]
        print(f"scale: webhook first delivery {webhook}", flush=True)
        _jobs(recorder)
        results["paths"] = recorder.results
        plans = recorder.plans()
        results["environment"] = _machine_basic()
    finally:
        connections.close_all()
        with psycopg.connect(f"{arguments.postgres}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {small} WITH (FORCE)")
            if not arguments.keep_database:
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    results["command"] = "python -m bench.run " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    directory = PROJECT_ROOT / "bench" / "results"
    directory.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (directory / f"{stamp}-scale.json").write_text(json.dumps(results, indent=2, default=str))
    plans_path = directory / f"{stamp}-scale-plans.txt"
    plans_path.write_text(plans)
    results["plans_file"] = str(plans_path.relative_to(PROJECT_ROOT))
    if not arguments.no_report:
        from bench.report_scale import scale_report_write

        # The report links to a copy in docs/ (bench/results/ is not in the repository).
        docs_plans = PROJECT_ROOT / "docs" / "benchmarks-scale-plans.txt"
        docs_plans.write_text(plans)
        results["plans_file"] = str(docs_plans.relative_to(PROJECT_ROOT))

        scale_report_write(results, PROJECT_ROOT / "docs" / "benchmarks.md")
    print(json.dumps({k: v for k, v in results.items() if k != "paths"}, indent=2, default=str))
    return 0
