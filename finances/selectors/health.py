"""Readiness of this instance and of what it depends on, for load balancers and people."""

import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.utils import timezone

from core.errors import ApplicationError
from finances import stripe_gateway
from finances.models import WebhookEventLog
from finances.selectors.disputes import disputes_open_summary

STRIPE_CHECK_CACHE_KEY = "health:stripe"


@dataclass
class HealthReport:
    checks: dict[str, dict] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not (self.checks["database"]["ok"] and self.checks["cache"]["ok"]):
            return "unavailable"
        if all(check["ok"] for check in self.checks.values()):
            return "ok"
        return "degraded"


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        details = check() or {}
        result = {"ok": True, **details}
    except Exception as error:
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key, value = f"health:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not return what was stored")
    cache.delete(key)


def _stripe() -> dict:
    """Asks Stripe at most once per STRIPE_HEALTH_CHECK_SECONDS; probes read the cached answer."""
    cached = cache.get(STRIPE_CHECK_CACHE_KEY)
    if cached is None:
        try:
            stripe_gateway.account_check()
            cached = {"reachable": True}
        except ApplicationError as error:
            cached = {"reachable": False, "error": error.code}
        cached["checked_at"] = timezone.now().isoformat()
        cache.set(STRIPE_CHECK_CACHE_KEY, cached, timeout=settings.STRIPE_HEALTH_CHECK_SECONDS)
    if not cached["reachable"]:
        raise RuntimeError(f"Stripe unreachable ({cached['error']}) at {cached['checked_at']}")
    return {"checked_at": cached["checked_at"], "api_base": settings.STRIPE_API_BASE}


def _disputes() -> dict:
    """For operators only: open disputes never make the instance unhealthy."""
    disputes = disputes_open_summary()
    return {
        "open_disputes": disputes.count,
        "disputed_amount_cents": disputes.amount_cents_by_currency,
    }


def _webhooks() -> dict:
    unfinished = WebhookEventLog.objects.unfinished()
    oldest = unfinished.order_by("received_at").values_list("received_at", flat=True).first()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    details = {
        "backlog": unfinished.count(),
        "oldest_unfinished_age_seconds": round(age, 1),
        "failed_needing_attention": WebhookEventLog.objects.needing_attention().count(),
        **_disputes(),
    }
    if age > settings.WEBHOOK_BACKLOG_ALERT_SECONDS:
        raise RuntimeError(
            f"oldest unfinished event waits for {round(age)} s "
            f"(limit {settings.WEBHOOK_BACKLOG_ALERT_SECONDS} s); backlog {details['backlog']}"
        )
    return details


def health_report(*, include_stripe: bool = True) -> HealthReport:
    report = HealthReport()
    report.checks["database"] = _timed(_database)
    report.checks["cache"] = _timed(_cache)
    if include_stripe:
        report.checks["stripe"] = _timed(_stripe)
    if report.checks["database"]["ok"]:
        try:
            report.checks["webhooks"] = _timed(_webhooks)
        except DatabaseError:
            report.checks["webhooks"] = {"ok": False, "error": "database unavailable"}
    return report
