"""`schedule_statuses`, and the schedules in `/health/` details and `/metrics/`."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule, Task
from prometheus_client.parser import text_string_to_metric_families

from finances.selectors.health import health_report
from finances.selectors.prometheus import prometheus_exposition
from finances.selectors.schedules import schedule_statuses
from finances.services.schedules import schedules_sync

pytestmark = pytest.mark.django_db


def _status(name: str):
    return next(status for status in schedule_statuses() if status.name == name)


def _run(name: str, *, minutes_ago: float, success: bool = True) -> Task:
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    return Task.objects.create(
        id=uuid.uuid4().hex,
        name=f"{name}-{uuid.uuid4().hex[:6]}",
        func=f"finances.tasks.{name}_task",
        group=name,
        started=moment,
        stopped=moment,
        success=success,
        attempt_count=1,
    )


@pytest.fixture
def synced(settings):
    settings.SCHEDULE_WEBHOOK_EVENTS_RETRY_MINUTES = 1
    settings.SCHEDULE_PAYMENTS_RECONCILE_MINUTES = 10
    schedules_sync()


def test_a_schedule_just_synced_is_not_overdue_and_has_no_success_yet(synced):
    status = _status("webhook_events_retry")

    assert (status.synced, status.last_success_at, status.overdue) == (True, None, False)


def test_a_schedule_is_overdue_after_two_intervals_without_success(synced):
    _run("payments_reconcile", minutes_ago=25)
    recent = _run("webhook_events_retry", minutes_ago=1.5)

    assert _status("payments_reconcile").overdue is True
    retry = _status("webhook_events_retry")
    assert retry.overdue is False
    assert retry.last_success_at == recent.stopped


def test_a_job_that_keeps_failing_makes_its_schedule_overdue(synced):
    _run("payments_reconcile", minutes_ago=30, success=False)
    _run("payments_reconcile", minutes_ago=1, success=False)

    status = _status("payments_reconcile")
    assert (status.last_success_at, status.overdue) == (None, True)


def test_a_schedule_no_worker_ever_ran_is_overdue_two_intervals_after_it_was_due(synced):
    Schedule.objects.filter(name="payments_reconcile").update(
        next_run=timezone.now() - timedelta(minutes=21)
    )

    assert _status("payments_reconcile").overdue is True


def test_a_paused_schedule_and_one_never_synced_are_not_overdue(synced):
    _run("payments_reconcile", minutes_ago=100)
    Schedule.objects.filter(name="payments_reconcile").update(repeats=0)
    Schedule.objects.filter(name="ledger_verify").delete()

    assert _status("payments_reconcile").overdue is False
    ledger = _status("ledger_verify")
    assert (ledger.synced, ledger.overdue) == (False, False)


def test_health_details_show_last_successes_and_an_overdue_schedule_degrades(synced):
    recent = _run("webhook_events_retry", minutes_ago=0.5)
    _run("payments_reconcile", minutes_ago=25)

    report = health_report(include_stripe=False)

    schedules = report.checks["schedules"]
    assert schedules["ok"] is False
    assert schedules["overdue"] == ["payments_reconcile"]
    assert schedules["last_success_at"]["webhook_events_retry"] == recent.stopped.isoformat()
    assert report.status == "degraded"


def test_metrics_show_each_schedules_last_success_and_overdue_flag(synced):
    recent = _run("webhook_events_retry", minutes_ago=0.5)
    _run("payments_reconcile", minutes_ago=25)

    samples = {
        (sample.name, sample.labels["schedule"]): sample.value
        for family in text_string_to_metric_families(prometheus_exposition().decode())
        for sample in family.samples
        if family.name.startswith("aprende_schedule_")
    }

    assert samples[("aprende_schedule_last_success_timestamp", "webhook_events_retry")] == (
        pytest.approx(recent.stopped.timestamp())
    )
    assert samples[("aprende_schedule_overdue", "payments_reconcile")] == 1
    assert samples[("aprende_schedule_overdue", "webhook_events_retry")] == 0
    assert ("aprende_schedule_last_success_timestamp", "ledger_verify") not in samples
