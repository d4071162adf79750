"""The job engine (django-q2, ORM broker) against the criteria we chose it for.

(2) transactional enqueue: a job enqueued in a transaction exists only if it commits;
(3) one run per schedule tick, however many clusters poll the schedules.
"""

import contextlib
import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.scheduler import scheduler
from django_q.tasks import async_task

from tests.support import jobs
from tests.support.concurrent_threads import run_together
from tests.support.jobs import QclusterProcesses, jobs_run_queued, wait_until


class Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def _no_calls_recorded():
    jobs.CALLS.clear()
    yield
    jobs.CALLS.clear()


def _queued_rows_seen_by_another_connection() -> int:
    seen: list[int] = []

    def count() -> None:
        try:
            seen.append(OrmQ.objects.count())
        finally:
            connections.close_all()

    thread = threading.Thread(target=count)
    thread.start()
    thread.join()
    return seen[0]


def _enqueue_then_roll_back(label: str) -> int:
    """Enqueues a job in a transaction that rolls back; how many rows it saw queued."""
    queued = 0
    with contextlib.suppress(Rollback), transaction.atomic():
        async_task("tests.support.jobs.job_record_call", label)
        queued = OrmQ.objects.count()
        raise Rollback
    return queued


@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs():
    queued_inside = _enqueue_then_roll_back("rolled back")

    assert queued_inside == 1  # it was in the queue, for that transaction only
    assert OrmQ.objects.count() == 0
    assert jobs_run_queued() == 0
    assert jobs.CALLS == []


@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_in_a_transaction_is_invisible_to_workers_until_it_commits():
    with transaction.atomic():
        async_task("tests.support.jobs.job_record_call", "committed")
        assert _queued_rows_seen_by_another_connection() == 0
    assert _queued_rows_seen_by_another_connection() == 1


@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_in_a_committed_transaction_runs_once():
    with transaction.atomic():
        task_id = async_task("tests.support.jobs.job_record_call", "committed")

    assert jobs_run_queued() == 1
    assert jobs_run_queued() == 0
    assert jobs.CALLS == ["committed"]
    assert Task.objects.get(id=task_id).success


def _due_schedule(name: str) -> Schedule:
    return Schedule.objects.create(
        name=name,
        func="tests.support.jobs.job_record_call",
        args=repr(name),
        schedule_type=Schedule.MINUTES,
        minutes=1,
        next_run=timezone.now() - timedelta(seconds=1),
    )


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_clusters_polling_schedules_together_enqueue_each_tick_once():
    schedules = [_due_schedule(f"tick-{index}") for index in range(3)]
    for tick in range(3):
        outcomes = run_together([scheduler for _ in range(4)])
        assert [outcome.error for outcome in outcomes] == [None] * 4
        assert OrmQ.objects.count() == len(schedules) * (tick + 1)
        Schedule.objects.update(next_run=timezone.now() - timedelta(seconds=1))

    assert jobs_run_queued() == 9
    assert sorted(jobs.CALLS) == sorted([schedule.name for schedule in schedules] * 3)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_qcluster_processes_run_each_schedule_tick_and_each_job_once(tmp_path):
    names = [f"tick-{index}" for index in range(4)]
    for name in names:
        _due_schedule(name)
    with transaction.atomic():
        job_id = async_task("tests.support.jobs.job_record_call", "one job")
    _enqueue_then_roll_back("rolled back")

    clusters = QclusterProcesses(count=2, log_dir=tmp_path, Q_WORKERS="2")
    try:
        # Each cluster polls the schedules about 30 s after it starts.
        assert wait_until(
            lambda: (
                Task.objects.filter(group__in=names).count() >= len(names)
                and Task.objects.filter(id=job_id).exists()
            ),
            timeout_seconds=60,
        ), [path.read_text() for path in tmp_path.glob("*.log")]
        # Both clusters have polled; give a second run the time to show up, if any.
        wait_until(lambda: False, timeout_seconds=3)
    finally:
        clusters.stop()

    for name in names:
        assert Task.objects.filter(group=name, success=True).count() == 1, name
    assert Task.objects.filter(func="tests.support.jobs.job_record_call").count() == 5
    assert OrmQ.objects.count() == 0
