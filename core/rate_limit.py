"""Fixed-window rate limits counted in the shared cache (Redis in production).

The counter is created with `add` and raised with `incr`, both atomic in Redis, so
several server processes share one count. Limits come from `settings.RATE_LIMITS`
(`"10/hour"`), and `settings.RATE_LIMITING_ENABLED` turns them all off.

When the cache cannot be reached the limit cannot be counted. Rather than let every
request through (an outage would switch off abuse protection) or answer an opaque 500,
the request is refused with 503 `service_unavailable` and a `Retry-After`.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from core.errors import ApplicationError, RateLimitExceeded

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - the local-memory cache needs no redis package
    RedisError = OSError

logger = logging.getLogger(__name__)
# What a cache backend raises when its server is down or slow: redis-py's errors (its
# ConnectionError and TimeoutError are RedisErrors) and socket errors (OSError).
CACHE_OUTAGE_ERRORS = (RedisError, OSError)
CACHE_OUTAGE_RETRY_AFTER_SECONDS = 30


class RateLimitUnavailable(ApplicationError):
    default_code = "service_unavailable"
    default_message = "This service is briefly unavailable. Try again shortly."
    default_status_code = 503

    def __init__(self, *, retry_after_seconds: int = CACHE_OUTAGE_RETRY_AFTER_SECONDS) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(headers={"Retry-After": str(retry_after_seconds)})


_PERIOD_SECONDS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int


def rate_parse(text: str) -> Rate:
    """`"10/hour"`, `"5/h"`, `"100/day"` or `"3/15minute"` (3 per 15 minutes)."""
    count, _, period = text.strip().partition("/")
    multiplier_digits = "".join(ch for ch in period if ch.isdigit())
    unit = period[len(multiplier_digits) :].strip().lower()
    # "seconds" → "second", "s" stays "s"; an empty period is an error, not "per second".
    unit = unit.removesuffix("s") if len(unit) > 1 else unit
    if unit not in _PERIOD_SECONDS:
        raise ValueError(f"A rate needs a period (second, minute, hour, day): {text!r}")
    multiplier = int(multiplier_digits or 1)
    limit = int(count)
    if limit < 1 or multiplier < 1:
        raise ValueError(f"A rate needs a positive count and window: {text!r}")
    return Rate(limit=limit, window_seconds=_PERIOD_SECONDS[unit] * multiplier)


def rate_limit_consume(*, scope: str, identifier: str, now: float | None = None) -> None:
    """Count one attempt for `identifier` in `scope`; raise `RateLimitExceeded` past the
    limit, `RateLimitUnavailable` when the cache cannot count it."""
    if not settings.RATE_LIMITING_ENABLED:
        return
    rate = rate_parse(settings.RATE_LIMITS[scope])
    now = time.time() if now is None else now
    window_index = int(now // rate.window_seconds)
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:32]
    key = f"ratelimit:{scope}:{digest}:{window_index}"
    try:
        count = _increment(key, timeout=rate.window_seconds + 5)
    except CACHE_OUTAGE_ERRORS as error:
        logger.error(
            "rate_limit.cache_unavailable",
            extra={"scope": scope, "error_class": type(error).__name__},
        )
        raise RateLimitUnavailable() from error
    if count > rate.limit:
        window_end = (window_index + 1) * rate.window_seconds
        raise RateLimitExceeded(retry_after_seconds=max(1, math.ceil(window_end - now)))


def _increment(key: str, *, timeout: int) -> int:
    for _ in range(3):
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:
            # The key expired between add and incr: start the window again.
            continue
    raise RuntimeError(f"Could not count rate limit key {key}")
