"""`make run` (scripts/run.sh) from a clean clone: web and worker start, a failed webhook
event is retried by the worker's schedule without any cron, Ctrl-C stops everything."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

import pytest
import requests

from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, UserFactory
from tests.support.jobs import REPOSITORY, wait_until
from tests.support.stripe_events import (
    TEST_WEBHOOK_SECRET,
    WEBHOOK_URL,
    event,
    payment_intent_object,
    sign,
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _event_for_a_purchase_that_is_not_in_the_database() -> dict:
    """Our metadata, for a purchase the fresh database has never seen: processing fails
    (500, FAILED with a backoff) and every retry fails again, visibly counted."""
    purchase = PurchaseTransactionFactory.build(
        student=UserFactory.build(pk=10**6), plan=PricingPlanFactory.build(pk=10**6)
    )
    return event("payment_intent.succeeded", payment_intent_object(purchase))


def _event_row(database, event_id: str):
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT status, retry_count FROM finances_webhookeventlog WHERE stripe_event_id = ?",
            (event_id,),
        ).fetchone()


def _health(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/health/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_make_run_serves_runs_the_worker_and_stops_everything_on_ctrl_c(tmp_path):
    database = tmp_path / "db.sqlite3"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))},
        "DJANGO_READ_DOT_ENV": "false",
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": "",
        "PORT": str(port),
        "LOCALSTRIPE_PORT": str(_free_port()),
        "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "WEBHOOK_RETRY_BACKOFF_SECONDS": "1",
        "EMAIL_FILE_PATH": str(tmp_path / "emails"),
        "Q_POLL_SECONDS": "0.2",
    }
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        script = subprocess.Popen(
            ["scripts/run.sh"],
            cwd=REPOSITORY,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert wait_until(lambda: _health(base_url), timeout_seconds=150), log_path.read_text()
        document = _event_for_a_purchase_that_is_not_in_the_database()
        body = json.dumps(document)
        response = requests.post(
            f"{base_url}{WEBHOOK_URL}",
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(body)},
            timeout=10,
        )
        assert response.status_code == 500
        assert _event_row(database, document["id"]) == ("FAILED", 0)

        # The worker's scheduler polls about every 30 s; the retry schedule is due at start.
        assert wait_until(
            lambda: _event_row(database, document["id"])[1] >= 1, timeout_seconds=90
        ), log_path.read_text()
    finally:
        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        script.wait(timeout=60)

    banner = log_path.read_text()
    assert f"Database:              sqlite:///{database}" in banner
    assert "Background jobs:       manage.py qcluster" in banner
    time.sleep(1)
    leftovers = subprocess.run(
        ["pgrep", "-s", str(script.pid)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout == "", "processes left running after Ctrl-C"
