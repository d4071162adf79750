"""Suite-wide fixtures.

- Every test starts with rate limits off, a cleared cache, a known webhook secret, and a
  Stripe API base that refuses connections, so no test talks to a Stripe by accident.
- `localstripe` starts one real localstripe process for the session (on a free port),
  points the gateway at it, and empties it when a new test module starts using it.
- Tests that need PostgreSQL, Redis or localstripe are marked; with REQUIRE_SERVICES=1
  (CI) a missing service fails instead of skipping.
"""

import os
import socket
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from devtools import localstripe as localstripe_control
from tests.support.localstripe import LocalStripe
from tests.support.stripe_events import TEST_WEBHOOK_SECRET

REFUSING_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens


def _service_missing(reason: str) -> None:
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"Required service missing: {reason}")
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "localstripe" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.localstripe)


@pytest.fixture(autouse=True)
def _test_defaults(settings, request):
    settings.RATE_LIMITING_ENABLED = False
    # `client.login()` authenticates without a request, which django-axes refuses; the
    # admin login throttle has its own tests, which switch it back on.
    settings.AXES_ENABLED = False
    # Factories set real passwords; PBKDF2 would spend ~0.2 s on each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STRIPE_WEBHOOK_SECRETS = [TEST_WEBHOOK_SECRET]
    settings.STRIPE_API_BASE = REFUSING_API_BASE
    settings.STRIPE_SECRET_KEY = "sk_test_suite"
    settings.STRIPE_SEND_OPTIONAL_PARAMETERS = False
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 5
    settings.STRIPE_LIVEMODE = False
    # Admin pages render {% static %}; the manifest only exists after collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cache.clear()
    if request.node.get_closest_marker("postgresql") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def _localstripe_process(tmp_path_factory):
    port = _free_port()
    api_base = f"http://127.0.0.1:{port}"
    log_path = Path(tmp_path_factory.mktemp("localstripe")) / "localstripe.log"
    try:
        process = localstripe_control.start(port=port, log_path=log_path)
    except FileNotFoundError:
        _service_missing("the localstripe executable is not installed in this virtualenv")
    try:
        localstripe_control.wait_until_ready(api_base, timeout_seconds=30)
    except TimeoutError:
        process.kill()
        _service_missing(f"localstripe did not start (log: {log_path})")
    state = {"api_base": api_base, "module": None}
    yield state
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def localstripe(_localstripe_process, settings, request) -> LocalStripe:
    """The suite's localstripe, with the gateway pointed at it; emptied per test module."""
    api_base = _localstripe_process["api_base"]
    module = request.node.module.__name__
    if _localstripe_process["module"] != module:
        localstripe_control.reset_data(api_base=api_base)
        _localstripe_process["module"] = module
    settings.STRIPE_API_BASE = api_base
    settings.STRIPE_SECRET_KEY = "sk_test_localstripe_suite"
    return LocalStripe(api_base=api_base)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        _service_missing(f"Redis is not reachable at {url}")
    return url
