import os
import uuid

import pytest
from django.db import connection

from tests.chaos.servers import ServerPair, server_environment
from tests.support.stripe_events import TEST_WEBHOOK_SECRET


def database_url_of_current_connection() -> str:
    """The URL of the database this test uses (pytest-django's test database)."""
    settings = connection.settings_dict
    credentials = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return (
        f"postgres://{credentials}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@pytest.fixture
def two_servers_factory(localstripe, redis_url, tmp_path):
    """Starts two gunicorn servers on this test's database, Redis and localstripe."""
    started: list[ServerPair] = []

    def start(*, rate_limiting: bool = False) -> ServerPair:
        environment = server_environment(
            database_url=database_url_of_current_connection(),
            redis_url=redis_url,
            stripe_api_base=localstripe.api_base,
            webhook_secret=TEST_WEBHOOK_SECRET,
            cache_key_prefix=f"chaos-{uuid.uuid4().hex[:8]}",
            rate_limiting=rate_limiting,
        )
        pair = ServerPair.start(environment=environment, log_directory=tmp_path)
        started.append(pair)
        return pair

    yield start
    for pair in started:
        pair.stop()


@pytest.fixture
def chaos_seed() -> int:
    """Random unless CHAOS_SEED is set; printed so that a failure can be replayed."""
    seed = int(os.environ.get("CHAOS_SEED") or uuid.uuid4().int % 1_000_000)
    print(f"CHAOS_SEED={seed}")
    return seed
