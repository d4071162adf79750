"""Readiness of this instance and of what it depends on, for load balancers and people.

Anyone may read the status (`health_summary`); the details (`health_details`: each check,
its latency, the webhook backlog, the Stripe API base) are for staff and monitoring only.
An error is shown as its class and a short message of ours: a driver's own text can carry
host names, users or connection strings.
"""

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
from finances.selectors.schedules import schedule_statuses

STRIPE_CHECK_CACHE_KEY = "health:stripe"


class HealthCheckFailed(Exception):
    """A failure whose message we wrote (and which is safe to show to staff)."""


@dataclass
class HealthReport:
    checks: dict[str, dict] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not (self.checks["database"]["ok"] and self.checks["cache"]["ok"]):
            return "down"
        if all(check["ok"] for check in self.checks.values()):
            return "ok"
        return "degraded"


def _timed(check, *, failure: str) -> dict:
    started = time.perf_counter()
    try:
        details = check() or {}
        result = {"ok": True, **details}
    except Exception as error:
        message = str(error) if isinstance(error, HealthCheckFailed) else failure
        result = {"ok": False, "error": f"{type(error).__name__}: {message}"[:300]}
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
        raise HealthCheckFailed("the cache did not return what was stored")
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
        raise HealthCheckFailed(f"Stripe unreachable ({cached['error']}) at {cached['checked_at']}")
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
        raise HealthCheckFailed(
            f"oldest unfinished event waits for {round(age)} s "
            f"(limit {settings.WEBHOOK_BACKLOG_ALERT_SECONDS} s); backlog {details['backlog']}"
        )
    return details


def _schedules() -> dict:
    """Background schedules: overdue ones make the report degraded."""
    statuses = schedule_statuses()
    overdue = [status.name for status in statuses if status.overdue]
    return {
        "ok": not overdue,
        "overdue": overdue,
        "not_synced": [status.name for status in statuses if not status.synced],
        "last_success_at": {
            status.name: status.last_success_at.isoformat() if status.last_success_at else None
            for status in statuses
        },
    }


def health_report(*, include_stripe: bool = True) -> HealthReport:
    report = HealthReport()
    report.checks["database"] = _timed(_database, failure="the database did not answer")
    report.checks["cache"] = _timed(_cache, failure="the cache did not answer")
    if include_stripe:
        report.checks["stripe"] = _timed(_stripe, failure="the Stripe check failed")
    if report.checks["database"]["ok"]:
        try:
            report.checks["webhooks"] = _timed(
                _webhooks, failure="the webhook log could not be read"
            )
        except DatabaseError:
            report.checks["webhooks"] = {"ok": False, "error": "database unavailable"}
        report.checks["schedules"] = _timed(_schedules, failure="the schedules could not be read")
    return report


def health_summary(report: HealthReport) -> dict:
    """What anyone may know: whether this instance serves."""
    return {"status": report.status}


def health_details(report: HealthReport) -> dict:
    """The one place that builds what staff and monitoring see; add new checks here."""
    return {**health_summary(report), "checks": report.checks}
