"""Running django-q2 jobs in tests: in this process, or in real `qcluster` processes.

`jobs_run_queued` drives the cluster's own pusher, worker and monitor functions in this
process (as django-q2's own tests do), so a test sees exactly what a worker would do,
without starting one. `QclusterProcesses` starts real `manage.py qcluster` processes on
the test database (a file on SQLite, so they share it).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from multiprocessing import Event, Queue, Value
from pathlib import Path

from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule, Task
from django_q.monitor import monitor
from django_q.pusher import pusher
from django_q.tasks import async_task
from django_q.worker import worker

REPOSITORY = Path(__file__).resolve().parents[2]

# Effects of `job_record_call` in this process (in-process runs only).
CALLS: list[str] = []


def job_record_call(label: str) -> str:
    """A job whose only effect is to be counted."""
    CALLS.append(label)
    return label


def job_fail(message: str) -> None:
    raise RuntimeError(message)


def jobs_run_queued(*, rounds: int = 100) -> int:
    """Runs every job waiting in the queue, in this process; returns how many ran."""
    broker = get_broker()
    ran = 0
    for _ in range(rounds):
        if broker.queue_size() == 0:
            break
        task_queue, result_queue = Queue(), Queue()
        stop = Event()
        stop.set()  # the pusher makes one pass
        pusher(task_queue, stop, broker=broker)
        ran += task_queue.qsize()
        task_queue.put("STOP")
        worker(task_queue, result_queue, Value("f", -1))
        result_queue.put("STOP")
        # The monitor saves each result (the Task row) and acknowledges it in the queue.
        monitor(result_queue, broker=broker)
    return ran


def one_job_of_each_state() -> None:
    """A schedule, a queued job, a successful one and a failed one (for admin pages).

    Results are written as the monitor writes them: running the monitor here would close
    the test's connection (it calls `close_old_connections`)."""
    Schedule.objects.create(
        name="record", func="tests.support.jobs.job_record_call", args="'scheduled'"
    )
    async_task("tests.support.jobs.job_record_call", "queued")
    now = timezone.now()
    for name, success, result in [
        ("succeeded", True, "succeeded"),
        ("failed", False, "RuntimeError: failed on purpose"),
    ]:
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=name,
            func="tests.support.jobs.job_record_call",
            args=(name,),
            started=now,
            stopped=now,
            success=success,
            result=result,
            attempt_count=1,
        )


def database_url_of_test_database() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    credentials = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return (
        f"postgres://{credentials}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def subprocess_environment(**overrides: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "STRIPE_", "Q_", "SCHEDULE_"))
    }
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_READ_DOT_ENV": "false",
            "DATABASE_URL": database_url_of_test_database(),
            "LOG_LEVEL": "WARNING",
            "Q_WORKERS": "1",
            "Q_POLL_SECONDS": "0.2",
        }
    )
    environment.update(overrides)
    return environment


class QclusterProcesses:
    """`manage.py qcluster` processes on the test database, stopped by `stop()`."""

    def __init__(self, *, count: int, log_dir: Path, **environment: str) -> None:
        self.processes: list[subprocess.Popen] = []
        for index in range(count):
            log = (log_dir / f"qcluster-{index}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=REPOSITORY,
                    env=subprocess_environment(**environment),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # the cluster stops its own children
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until(condition, *, timeout_seconds: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
