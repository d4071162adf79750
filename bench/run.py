"""The webhook benchmark, on demand (not in CI):

    make bench                          # or:
    .venv/bin/python -m bench.run --levels 1,16,64 --duration 10

Creates (and afterwards drops) the PostgreSQL database `aprende_bench`, starts gunicorn
with the product's settings plus the ceiling view, and for each concurrency level runs
wrk (one thread per 8 connections, at most 2) against our webhook endpoint and against
the ceiling, alternating which goes first. Every request is a fresh, correctly signed
`payment_intent.succeeded` for its own pre-created purchase. Then it counts the SQL
statements of one event, measures purchase initiation against localstripe beside a bare
SDK call, and writes docs/benchmarks.md (between its generated markers) and a JSON file
in bench/results/.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATABASE = "aprende_bench"
# Ours, the ORM ceiling, the raw-SQL ceiling and the no-database view (bench/ceiling.py).
TARGETS = ("ours", "dup", "ceiling", "raw", "nodb")
SECRET = "whsec_bench_secret_value"


def _arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--levels", default="1,16,64", help="concurrency levels (connections)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per level and target")
    parser.add_argument("--events-per-run", type=int, default=15000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--initiations", type=int, default=200, help="0 skips the measurement")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default=DATABASE, help="created and dropped")
    parser.add_argument(
        "--no-report", action="store_true", help="do not rewrite docs/benchmarks.md"
    )
    scale = parser.add_argument_group("scale (make bench-scale; see bench/scale.py)")
    scale.add_argument("--scale", action="store_true", help="the read paths at scale instead")
    scale.add_argument("--scale-rows", type=int, default=1_000_000, help="purchases to load")
    scale.add_argument("--scale-webhooks", type=int, default=300, help="first deliveries timed")
    scale.add_argument("--scale-repeat", type=int, default=5, help="runs per read path")
    scale.add_argument("--slow-ms", type=float, default=20.0, help="statements explained")
    scale.add_argument("--scale-database", default="aprende_bench_scale")
    scale.add_argument("--keep-database", action="store_true", help="do not drop it after")
    return parser.parse_args(argv)


def _gunicorn(environment: dict, port: int, arguments, log_path: Path) -> subprocess.Popen:
    worker_class = "gthread" if arguments.threads > 1 else "sync"
    return subprocess.Popen(
        [
            str(PROJECT_ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(arguments.workers),
            "--threads",
            str(arguments.threads),
            "--worker-class",
            worker_class,
            "--backlog",
            "2048",
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def main(argv=None) -> int:
    arguments = _arguments(argv)
    if arguments.scale:
        from bench.scale import scale_main

        return scale_main(arguments, argv)
    import psycopg

    with psycopg.connect(f"{arguments.postgres}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {arguments.database} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {arguments.database}")
    work = Path(tempfile.mkdtemp(prefix="aprende-bench-"))
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))},
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_READ_DOT_ENV": "false",
        "DATABASE_URL": f"{arguments.postgres}/{arguments.database}",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "RATE_LIMITING_ENABLED": "false",
        # Connections live through the whole benchmark (both endpoints alike), so that CPU
        # accounting per process does not lose recycled backends.
        "DATABASE_CONN_MAX_AGE": "3600",
    }
    environment.pop("REDIS_URL", None)
    os.environ.update(environment)

    import django

    django.setup()
    from django.core.management import call_command

    from bench import fixtures, measure
    from bench.report import report_write
    from bench.wrk import wrk_run
    from devtools import localstripe as localstripe_control
    from tests.chaos.servers import free_port

    call_command("migrate", verbosity=0)
    call_command("seed_pricing_plans", verbosity=0)
    levels = [int(level) for level in arguments.levels.split(",")]
    localstripe_port = free_port()
    localstripe_base = f"http://127.0.0.1:{localstripe_port}"
    localstripe_process = localstripe_control.start(
        port=localstripe_port, log_path=work / "localstripe.log"
    )
    localstripe_control.wait_until_ready(localstripe_base)
    environment.update({"STRIPE_API_BASE": localstripe_base, "STRIPE_SECRET_KEY": "sk_test_bench"})
    port = free_port()
    server = _gunicorn(environment, port, arguments, work / "gunicorn.log")
    base_url = f"http://127.0.0.1:{port}"
    results: dict = {"runs": [], "work_directory": str(work)}
    try:
        _wait_for(base_url)
        from django.conf import settings

        settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = localstripe_base, "sk_test_bench"
        results["sql_statements"] = measure.sql_statements_per_event()
        print(f"bench: SQL statements {results['sql_statements']}", flush=True)
        # Every worker's first requests import and connect; not what is measured.
        for target in TARGETS:
            _one_run(target, 8, "warmup", _Warmup(arguments), base_url, work, fixtures, wrk_run)
        for level in levels:
            for round_index in range(arguments.rounds):
                # Rotated: each target goes first in turn, so all see the same machine.
                shift = round_index % len(TARGETS)
                order = TARGETS[shift:] + TARGETS[:shift]
                for target in order:
                    results["runs"].append(
                        _one_run(
                            target, level, round_index, arguments, base_url, work, fixtures, wrk_run
                        )
                    )
        if arguments.initiations:
            from finances.models import PricingPlan

            localstripe_control.reset_data(api_base=localstripe_base)
            results["initiation"] = measure.initiation_overhead(
                server_url=base_url,
                localstripe_api_base=localstripe_base,
                iterations=arguments.initiations,
                plan_id=PricingPlan.objects.get(slug="package-10h").pk,
            )
            print(f"bench: initiation {results['initiation']}", flush=True)
        results["environment"] = _machine(arguments)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)
        localstripe_process.terminate()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{arguments.postgres}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {arguments.database} WITH (FORCE)")

    results["command"] = "python -m bench.run " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    results_directory = PROJECT_ROOT / "bench" / "results"
    results_directory.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (results_directory / f"{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    if not arguments.no_report:
        report_write(results, PROJECT_ROOT / "docs" / "benchmarks.md")
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2, default=str))
    return 0


def _one_run(target, level, round_index, arguments, base_url, work, fixtures, wrk_run) -> dict:
    from bench.cpu import cpu_per_request_ms, cpu_snapshot

    tag = f"{target[0]}{level}r{round_index}"[:24]
    # The no-database view answers several times faster than the rest: it gets more
    # events, so that it never runs out of them (cheap: they need no rows).
    count = arguments.events_per_run * (4 if target == "nodb" else 1)
    if target == "ours":
        documents = [
            fixtures.succeeded_event(
                payment_intent_id=p.stripe_payment_intent_id, transaction_id=str(p.pk)
            )
            for p in fixtures.purchases_create(count=count, tag=tag)
        ]
        path = "/api/finances/webhooks/stripe/"
    elif target == "dup":
        # Duplicates: every event was delivered and PROCESSED before (recorded in bulk).
        documents = [
            fixtures.succeeded_event(payment_intent_id=f"pi_dup_{tag}_{i}", transaction_id="-")
            for i in range(count)
        ]
        fixtures.events_record_processed(documents=documents)
        path = "/api/finances/webhooks/stripe/"
    elif target == "nodb":
        documents = [
            fixtures.succeeded_event(payment_intent_id=f"pi_nodb_{tag}_{i}", transaction_id="-")
            for i in range(count)
        ]
        path = "/bench/nodb/"
    else:
        documents = [
            fixtures.succeeded_event(
                payment_intent_id=f"pi_ceiling_{tag}_{index}",
                transaction_id="-",
                extra_metadata={"bench_rows": rows},
            )
            for index, rows in enumerate(fixtures.ceiling_rows_create(count=count, tag=tag))
        ]
        path = "/bench/ceiling/" if target == "ceiling" else "/bench/raw/"
    _vacuum()
    payload_path = work / f"{tag}.tsv"
    fixtures.payload_file_write(path=payload_path, documents=documents, secret=SECRET)
    before = cpu_snapshot()
    result = wrk_run(
        url=base_url + path,
        payload_path=payload_path,
        connections=level,
        duration_seconds=arguments.duration,
    )
    cpu_ms = cpu_per_request_ms(before, cpu_snapshot(), result.requests)
    valid = result.requests <= count and result.non_2xx == 0
    p50, p99 = result.latency_ms.get("50%", 0), result.latency_ms.get("99%", 0)
    print(
        f"bench: {target:7} c={level:<3} {result.requests_per_second:8.1f} req/s "
        f"p50 {p50:6.2f} ms p99 {p99:6.2f} ms "
        f"non-2xx {result.non_2xx} {'ok' if valid else 'INVALID (ran out of events or errors)'} "
        f"cpu/request ms: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu_ms.items()),
        flush=True,
    )
    return {
        "target": target,
        "connections": level,
        "round": round_index,
        "requests": result.requests,
        "requests_per_second": result.requests_per_second,
        "latency_ms": result.latency_ms,
        "non_2xx": result.non_2xx,
        "socket_errors": result.socket_errors,
        "events_available": count,
        "valid": valid,
        "cpu_ms_per_request": cpu_ms,
    }


class _Warmup:
    """The run arguments for a short warm-up run."""

    def __init__(self, arguments) -> None:
        self.events_per_run = 3000
        self.duration = 3


def _wait_for(base_url: str) -> None:
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/health/?stripe=false", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError("gunicorn did not start")


def _first_line(command: list[str]) -> str:
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    return (finished.stdout or finished.stderr).splitlines()[0]


def _machine(arguments) -> dict:
    return {
        **_machine_basic(),
        "gunicorn": f"{arguments.workers} workers x {arguments.threads} threads "
        f"({'gthread' if arguments.threads > 1 else 'sync'})",
        "wrk": _first_line(["wrk", "--version"]).split(" Copyright")[0],
    }


def _machine_basic() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres_version = cursor.fetchone()[0]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "postgresql": postgres_version,
        "load_average": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


if __name__ == "__main__":
    sys.exit(main())
