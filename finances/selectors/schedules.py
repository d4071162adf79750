"""How the background schedules are doing: each one's last success, and whether it is
overdue (no success for more than two intervals), for `/health/` and `/metrics/`."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Min, Q
from django.utils import timezone
from django_q.models import Schedule, Task

from finances.schedules import SCHEDULES
from finances.services.schedules import schedule_interval_minutes

OVERDUE_AFTER_INTERVALS = 2


@dataclass(frozen=True)
class ScheduleStatus:
    name: str
    interval_minutes: int
    synced: bool  # exists in django-q2 (`manage.py sync_schedules` ran)
    paused: bool  # repeats = 0, set by an operator in the admin
    last_success_at: datetime | None
    next_run_at: datetime | None
    overdue: bool


def schedule_statuses(*, now: datetime | None = None) -> list[ScheduleStatus]:
    """A synced, running schedule is overdue when its last success (or, before any, its
    first run or first due time) is older than two intervals: the worker is down, or the
    job keeps failing."""
    now = now or timezone.now()
    names = [name for name, _, _ in SCHEDULES]
    schedules = {schedule.name: schedule for schedule in Schedule.objects.filter(name__in=names)}
    runs = {
        row["group"]: row
        for row in Task.objects.filter(group__in=names)
        .values("group")
        .annotate(
            last_success=Max("stopped", filter=Q(success=True)),
            first_started=Min("started"),
        )
        .order_by()
    }
    statuses = []
    for name, _, setting_name in SCHEDULES:
        interval = schedule_interval_minutes(setting_name=setting_name)
        schedule = schedules.get(name)
        run = runs.get(name, {})
        last_success = run.get("last_success")
        reference = last_success or run.get("first_started") or (schedule and schedule.next_run)
        paused = schedule is not None and schedule.repeats == 0
        overdue = (
            schedule is not None
            and not paused
            and reference is not None
            and now - reference > timedelta(minutes=OVERDUE_AFTER_INTERVALS * interval)
        )
        statuses.append(
            ScheduleStatus(
                name=name,
                interval_minutes=interval,
                synced=schedule is not None,
                paused=paused,
                last_success_at=last_success,
                next_run_at=schedule.next_run if schedule else None,
                overdue=overdue,
            )
        )
    return statuses
