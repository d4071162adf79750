"""Makes django-q2's schedules match `finances/schedules.py` (idempotent)."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule

from finances.schedules import SCHEDULES

# Schedules whose function lives here are ours: one no longer listed is removed.
OUR_FUNCTIONS_PREFIXES = ("finances.", "notifications.")
PLATFORM_WEBHOOK_RETRY = "finances.services.platform_webhooks.platform_webhook_deliver"


@dataclass
class ScheduleSync:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def schedule_interval_minutes(*, setting_name: str) -> int:
    minutes = int(getattr(settings, setting_name))
    if minutes < 1:
        raise ValueError(f"{setting_name} must be at least 1 minute, not {minutes}.")
    return minutes


def schedules_sync() -> ScheduleSync:
    """Creates each listed schedule (first run now), updates its function and interval if
    they changed (an earlier next run is kept), and removes ours that are no longer listed.
    A schedule an operator paused in the admin (repeats = 0) stays paused."""
    result = ScheduleSync()
    now = timezone.now()
    listed = set()
    with transaction.atomic(durable=True):
        for name, func, setting_name in SCHEDULES:
            listed.add(name)
            minutes = schedule_interval_minutes(setting_name=setting_name)
            schedule = Schedule.objects.select_for_update().filter(name=name).first()
            if schedule is None:
                Schedule.objects.create(
                    name=name,
                    func=func,
                    schedule_type=Schedule.MINUTES,
                    minutes=minutes,
                    repeats=-1,
                    next_run=now,
                )
                result.created.append(name)
                continue
            if (schedule.func, schedule.schedule_type, schedule.minutes) == (
                func,
                Schedule.MINUTES,
                minutes,
            ):
                result.unchanged.append(name)
                continue
            schedule.func = func
            schedule.schedule_type = Schedule.MINUTES
            schedule.minutes = minutes
            schedule.next_run = min(schedule.next_run or now, now + timedelta(minutes=minutes))
            schedule.save()
            result.updated.append(name)
        ours = Q()
        for prefix in OUR_FUNCTIONS_PREFIXES:
            ours |= Q(func__startswith=prefix)
        # A platform webhook's next attempt is a one-off schedule, not ours to remove.
        periodic = Schedule.objects.filter(ours).exclude(func=PLATFORM_WEBHOOK_RETRY)
        for schedule in periodic.exclude(name__in=listed):
            result.removed.append(schedule.name or str(schedule.pk))
            schedule.delete()
    return result
