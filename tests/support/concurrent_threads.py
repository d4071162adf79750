"""Threads for concurrency tests: start together, own DB connection each, results kept.

Every thread closes its database connections when it ends (the developer guide's rule),
and exceptions are captured and handed back instead of dying silently in the thread.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, connections

JOIN_TIMEOUT_SECONDS = 120.0


@dataclass
class ThreadOutcome:
    value: object = None
    error: BaseException | None = None


def _run_closing_connections(function: Callable[[], object], outcome: ThreadOutcome) -> None:
    try:
        outcome.value = function()
    except BaseException as error:  # handed back to the test
        outcome.error = error
    finally:
        connections.close_all()


def run_together(
    functions: list[Callable[[], object]], *, timeout_seconds: float = JOIN_TIMEOUT_SECONDS
) -> list[ThreadOutcome]:
    """Runs each function in its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(functions))
    outcomes = [ThreadOutcome() for _ in functions]

    def released_together(function: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            barrier.wait(timeout=timeout_seconds)
            return function()

        return run

    threads = [
        threading.Thread(
            target=_run_closing_connections, args=(released_together(function), outcome)
        )
        for function, outcome in zip(functions, outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_seconds
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} thread(s) still running after {timeout_seconds} s (deadlock?)"
    return outcomes


def values_or_raise(outcomes: list[ThreadOutcome]) -> list[object]:
    """The threads' return values; the first thread error is raised with a count."""
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    if errors:
        raise AssertionError(
            f"{len(errors)} of {len(outcomes)} threads failed; first: {errors[0]!r}"
        ) from errors[0]
    return [outcome.value for outcome in outcomes]


class BackgroundThread:
    """One thread started now; `result()` joins it and returns or re-raises."""

    def __init__(self, function: Callable[[], object]) -> None:
        self._outcome = ThreadOutcome()
        self._thread = threading.Thread(
            target=_run_closing_connections, args=(function, self._outcome)
        )
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout_seconds: float = JOIN_TIMEOUT_SECONDS) -> object:
        self._thread.join(timeout=timeout_seconds)
        assert not self._thread.is_alive(), f"thread still running after {timeout_seconds} s"
        if self._outcome.error is not None:
            raise self._outcome.error
        return self._outcome.value


def backend_pid() -> int:
    """The PostgreSQL backend process id of this thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _lock_waiters() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


def _never() -> bool:
    return False


def wait_for_lock_waiter(
    *, pid: int | None = None, timeout_seconds: float = 20.0, give_up: Callable[[], bool] = _never
) -> bool:
    """True once a backend of the test database (`pid`, or any other) waits on a lock.

    Polls from a fresh thread and connection, so it sees the current activity even when
    the caller is inside a transaction (pg_stat_activity is a per-transaction snapshot).
    Returns False after the timeout, or as soon as `give_up()` is true.
    """

    def poll() -> bool:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            waiters = _lock_waiters()
            if (pid in waiters) if pid is not None else bool(waiters):
                return True
            if give_up():
                return False
            time.sleep(0.02)
        return False

    return bool(BackgroundThread(poll).result(timeout_seconds + 10))
