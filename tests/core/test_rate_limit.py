from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.test import override_settings

from core.errors import RateLimitExceeded
from core.rate_limit import Rate, RateLimitUnavailable, rate_limit_consume, rate_parse

# 10:15:00 UTC: 45 minutes (2700 s) before the end of its hourly window.
QUARTER_PAST_TEN = datetime(2025, 3, 4, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def limits(settings):
    settings.RATE_LIMITING_ENABLED = True
    settings.RATE_LIMITS = {"test_hourly": "3/hour", "test_other": "3/hour", "test_minute": "2/m"}
    return settings


def consume_until_refused(*, scope: str, identifier: str, attempts: int) -> int:
    allowed = 0
    for _ in range(attempts):
        try:
            rate_limit_consume(scope=scope, identifier=identifier)
        except RateLimitExceeded:
            break
        allowed += 1
    return allowed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/hour", Rate(limit=10, window_seconds=3600)),
        ("10/hours", Rate(limit=10, window_seconds=3600)),
        ("5/h", Rate(limit=5, window_seconds=3600)),
        ("100/day", Rate(limit=100, window_seconds=86400)),
        ("100/d", Rate(limit=100, window_seconds=86400)),
        ("30/minute", Rate(limit=30, window_seconds=60)),
        ("30/min", Rate(limit=30, window_seconds=60)),
        ("3/15minute", Rate(limit=3, window_seconds=900)),
        ("3/15m", Rate(limit=3, window_seconds=900)),
        ("2/second", Rate(limit=2, window_seconds=1)),
        ("2/s", Rate(limit=2, window_seconds=1)),
        ("  7/Hour  ", Rate(limit=7, window_seconds=3600)),
    ],
)
def test_a_rate_is_parsed_from_count_and_period(text, expected):
    assert rate_parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ten/hour",  # count is not a number
        "1.5/hour",
        "0/hour",  # a limit of nothing
        "-1/hour",
        "10/fortnight",  # unknown period
        "10/hour/day",
        "",
        "/hour",
    ],
)
def test_an_invalid_rate_is_refused(text):
    with pytest.raises(ValueError):
        rate_parse(text)


def test_a_rate_without_a_period_is_refused_rather_than_read_as_per_second():
    # "10" or "10/" in an environment variable is a typo; reading it as 10 per second
    # would silently make the limit 3600 times weaker.
    with pytest.raises(ValueError):
        rate_parse("10")
    with pytest.raises(ValueError):
        rate_parse("10/")


def test_a_window_of_zero_length_is_refused_when_parsed():
    # A zero window would make rate_limit_consume divide by zero on every request.
    with pytest.raises(ValueError):
        rate_parse("10/0minute")


def test_exactly_the_limit_is_allowed_then_the_next_attempt_is_refused(limits):
    with time_machine.travel(QUARTER_PAST_TEN, tick=False):
        for _ in range(3):
            rate_limit_consume(scope="test_hourly", identifier="198.51.100.7")

        with pytest.raises(RateLimitExceeded) as refused:
            rate_limit_consume(scope="test_hourly", identifier="198.51.100.7")

    assert refused.value.status_code == 429
    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after_seconds == 2700
    assert refused.value.headers == {"Retry-After": "2700"}


@pytest.mark.parametrize(
    ("moment", "seconds_to_window_end"),
    [
        (datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC), 3600),
        (datetime(2025, 3, 4, 10, 15, 0, 500000, tzinfo=UTC), 2700),  # rounded up
        (datetime(2025, 3, 4, 10, 59, 30, tzinfo=UTC), 30),
        (datetime(2025, 3, 4, 10, 59, 59, 900000, tzinfo=UTC), 1),
    ],
)
def test_retry_after_counts_the_seconds_to_the_end_of_the_window(
    limits, moment, seconds_to_window_end
):
    with time_machine.travel(moment, tick=False):
        for _ in range(3):
            rate_limit_consume(scope="test_hourly", identifier="ana@example.com")
        with pytest.raises(RateLimitExceeded) as refused:
            rate_limit_consume(scope="test_hourly", identifier="ana@example.com")

    assert refused.value.retry_after_seconds == seconds_to_window_end
    assert refused.value.headers["Retry-After"] == str(seconds_to_window_end)


def test_every_refused_attempt_keeps_being_refused_until_the_window_ends(limits):
    with time_machine.travel(QUARTER_PAST_TEN, tick=False) as traveller:
        assert consume_until_refused(scope="test_hourly", identifier="ip", attempts=10) == 3
        traveller.shift(60 * 44)  # 10:59:00, still the same window

        with pytest.raises(RateLimitExceeded) as refused:
            rate_limit_consume(scope="test_hourly", identifier="ip")

    assert refused.value.retry_after_seconds == 60


def test_a_new_window_starts_a_new_count(limits):
    with time_machine.travel(QUARTER_PAST_TEN, tick=False) as traveller:
        assert consume_until_refused(scope="test_hourly", identifier="ip", attempts=5) == 3
        traveller.move_to(datetime(2025, 3, 4, 11, 0, 0, tzinfo=UTC))

        assert consume_until_refused(scope="test_hourly", identifier="ip", attempts=5) == 3


def test_a_multi_unit_window_is_counted_as_one_window(limits):
    limits.RATE_LIMITS = {"test_quarter": "2/15minute"}
    # 10:14:50 is in the window 10:00-10:15; 10:15:00 starts the next one.
    with time_machine.travel(datetime(2025, 3, 4, 10, 14, 50, tzinfo=UTC), tick=False) as t:
        assert consume_until_refused(scope="test_quarter", identifier="ip", attempts=5) == 2
        with pytest.raises(RateLimitExceeded) as refused:
            rate_limit_consume(scope="test_quarter", identifier="ip")
        assert refused.value.retry_after_seconds == 10

        t.move_to(datetime(2025, 3, 4, 10, 15, 0, tzinfo=UTC))
        assert consume_until_refused(scope="test_quarter", identifier="ip", attempts=5) == 2


def test_nothing_is_counted_or_refused_when_rate_limiting_is_disabled(limits):
    limits.RATE_LIMITING_ENABLED = False

    for _ in range(50):
        rate_limit_consume(scope="test_hourly", identifier="ip")

    limits.RATE_LIMITING_ENABLED = True
    assert consume_until_refused(scope="test_hourly", identifier="ip", attempts=5) == 3


def test_different_identifiers_are_counted_separately(limits):
    with time_machine.travel(QUARTER_PAST_TEN, tick=False):
        assert consume_until_refused(scope="test_hourly", identifier="a@x.org", attempts=5) == 3

        assert consume_until_refused(scope="test_hourly", identifier="b@x.org", attempts=5) == 3


def test_different_scopes_are_counted_separately(limits):
    with time_machine.travel(QUARTER_PAST_TEN, tick=False):
        assert consume_until_refused(scope="test_hourly", identifier="same", attempts=5) == 3

        assert consume_until_refused(scope="test_other", identifier="same", attempts=5) == 3
        assert consume_until_refused(scope="test_minute", identifier="same", attempts=5) == 2


def test_the_limit_is_read_from_settings_at_each_attempt(limits):
    with time_machine.travel(QUARTER_PAST_TEN, tick=False):
        assert consume_until_refused(scope="test_hourly", identifier="ip", attempts=5) == 3
        limits.RATE_LIMITS = {"test_hourly": "5/hour"}

        # Three were counted (the refused fourth counted too), one more fits under five.
        assert consume_until_refused(scope="test_hourly", identifier="ip", attempts=5) == 1


@pytest.mark.parametrize(
    "outage",
    [
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1."),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=["redis_connection_error", "redis_timeout", "socket_refused"],
)
def test_a_cache_outage_is_a_503_with_retry_after_not_a_crash(limits, monkeypatch, outage):
    def down(*args, **kwargs):
        raise outage

    monkeypatch.setattr(cache, "add", down)

    with pytest.raises(RateLimitUnavailable) as raised:
        rate_limit_consume(scope="test_hourly", identifier="203.0.113.9")

    assert raised.value.status_code == 503
    assert raised.value.code == "service_unavailable"
    assert int(raised.value.headers["Retry-After"]) > 0


def test_a_real_redis_cache_on_a_closed_port_is_a_503(limits):
    # Nothing listens on port 1: redis-py raises its ConnectionError from add().
    closed_port = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }

    # Restored before the suite's teardown clears the cache.
    with override_settings(CACHES=closed_port), pytest.raises(RateLimitUnavailable):
        rate_limit_consume(scope="test_hourly", identifier="203.0.113.9")
