"""Two server processes share one count through Redis (spec: limits in the shared cache).

Each process is a real OS process with its own Django, configured only through the
environment, exactly as two gunicorn workers would be.
"""

import json
import os
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import redis

pytestmark = pytest.mark.redis

PROJECT_DIR = Path(__file__).resolve().parents[2]
PYTHON = PROJECT_DIR / ".venv" / "bin" / "python"
IP_LIMIT = 10

# Waits for the start file, then makes `attempts` attempts from `threads` threads at once
# and prints how many were allowed and the Retry-After values of the refused ones.
WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from concurrent.futures import ThreadPoolExecutor
    import django

    django.setup()
    from core.errors import RateLimitExceeded
    from core.rate_limit import rate_limit_consume

    start_file, attempts, threads, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), None
    if len(sys.argv) > 4:
        now = float(sys.argv[4])

    def attempt(_):
        try:
            rate_limit_consume(scope="purchase_initiate_ip", identifier="203.0.113.9", now=now)
            return None
        except RateLimitExceeded as error:
            return error.retry_after_seconds

    deadline = time.monotonic() + 30
    while not os.path.exists(start_file) and time.monotonic() < deadline:
        time.sleep(0.005)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(attempt, range(attempts)))
    print(json.dumps({
        "allowed": sum(result is None for result in results),
        "retry_after": [result for result in results if result is not None],
    }))
    """
)


@pytest.fixture
def key_prefix(redis_url):
    prefix = f"test-helpera-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def worker_environment(*, redis_url: str, key_prefix: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "RATE_LIMIT", "CACHE_KEY_PREFIX"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_READ_DOT_ENV="0",
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=key_prefix,
        RATE_LIMITING_ENABLED="1",
        RATE_LIMIT_PURCHASE_PER_IP=f"{IP_LIMIT}/hour",
    )
    return environment


def start_worker(start_file: Path, environment, *, attempts: int, threads: int, now: float):
    return subprocess.Popen(
        [str(PYTHON), "-c", WORKER, str(start_file), str(attempts), str(threads), str(now)],
        cwd=PROJECT_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def worker_result(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def middle_of_current_hour() -> float:
    # A fixed `now` in the middle of the window: both processes count in the same window
    # even if the test runs across the hour.
    return (time.time() // 3600) * 3600 + 1800


def test_two_processes_together_allow_exactly_the_limit(tmp_path, redis_url, key_prefix):
    environment = worker_environment(redis_url=redis_url, key_prefix=key_prefix)
    start_file = tmp_path / "start"
    now = middle_of_current_hour()
    workers = [
        start_worker(start_file, environment, attempts=15, threads=6, now=now) for _ in range(2)
    ]
    time.sleep(1.5)  # let both import Django and wait at the start line
    assert all(worker.poll() is None for worker in workers), "a worker exited early"

    start_file.touch()
    results = [worker_result(worker) for worker in workers]

    assert sum(result["allowed"] for result in results) == IP_LIMIT
    refused = [seconds for result in results for seconds in result["retry_after"]]
    assert len(refused) == 30 - IP_LIMIT
    assert set(refused) == {1800}


def test_a_second_process_sees_the_attempts_counted_by_the_first(tmp_path, redis_url, key_prefix):
    environment = worker_environment(redis_url=redis_url, key_prefix=key_prefix)
    start_file = tmp_path / "start"
    start_file.touch()
    now = middle_of_current_hour()

    first = worker_result(start_worker(start_file, environment, attempts=7, threads=1, now=now))
    second = worker_result(start_worker(start_file, environment, attempts=7, threads=1, now=now))

    assert (first["allowed"], second["allowed"]) == (7, 3)
    assert len(second["retry_after"]) == 4


def test_the_counter_lives_in_redis_under_the_configured_prefix(tmp_path, redis_url, key_prefix):
    environment = worker_environment(redis_url=redis_url, key_prefix=key_prefix)
    start_file = tmp_path / "start"
    start_file.touch()

    worker_result(
        start_worker(start_file, environment, attempts=4, threads=1, now=middle_of_current_hour())
    )

    keys = list(redis.Redis.from_url(redis_url).scan_iter(f"{key_prefix}:*"))
    assert len(keys) == 1
    key = keys[0].decode()
    assert ":ratelimit:purchase_initiate_ip:" in key
    assert "203.0.113.9" not in key  # the identifier is hashed
    assert int(redis.Redis.from_url(redis_url).get(keys[0])) == 4
