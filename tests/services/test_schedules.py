"""`schedules_sync` (and `manage.py sync_schedules`): the schedules of finances/schedules.py,
created once, updated when their interval changes."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from finances.schedules import SCHEDULES
from finances.services.schedules import schedules_sync

pytestmark = pytest.mark.django_db

NAMES = [name for name, _, _ in SCHEDULES]


def test_every_listed_schedule_is_created_due_now_with_its_interval(settings):
    settings.SCHEDULE_PAYMENTS_RECONCILE_MINUTES = 10

    result = schedules_sync()

    assert sorted(result.created) == sorted(NAMES)
    reconcile = Schedule.objects.get(name="payments_reconcile")
    assert (reconcile.func, reconcile.schedule_type, reconcile.minutes, reconcile.repeats) == (
        "finances.tasks.payments_reconcile_task",
        Schedule.MINUTES,
        10,
        -1,
    )
    assert reconcile.next_run <= timezone.now()


def test_the_defaults_are_the_product_intervals():
    schedules_sync()

    minutes = dict(Schedule.objects.values_list("name", "minutes"))
    assert minutes["webhook_events_retry"] == 1
    assert minutes["payments_reconcile"] == 10
    assert minutes["packages_expire"] == 60
    assert minutes["ledger_verify"] == 24 * 60


def test_a_second_sync_changes_nothing():
    schedules_sync()
    before = list(Schedule.objects.order_by("pk").values())

    result = schedules_sync()

    assert result.created == result.updated == result.removed == []
    assert list(Schedule.objects.order_by("pk").values()) == before


def test_a_changed_interval_updates_the_schedule_and_brings_its_next_run_forward(settings):
    schedules_sync()
    Schedule.objects.filter(name="ledger_verify").update(
        next_run=timezone.now() + timedelta(hours=20)
    )
    settings.SCHEDULE_LEDGER_VERIFY_MINUTES = 60

    result = schedules_sync()

    assert result.updated == ["ledger_verify"]
    schedule = Schedule.objects.get(name="ledger_verify")
    assert schedule.minutes == 60
    assert schedule.next_run <= timezone.now() + timedelta(minutes=60)
    assert Schedule.objects.count() == len(NAMES)


def test_a_schedule_paused_by_an_operator_stays_paused(settings):
    schedules_sync()
    Schedule.objects.filter(name="packages_expire").update(repeats=0)
    settings.SCHEDULE_PACKAGES_EXPIRE_MINUTES = 30

    schedules_sync()

    assert Schedule.objects.get(name="packages_expire").repeats == 0


def test_one_of_ours_no_longer_listed_is_removed_and_an_operators_own_is_kept():
    Schedule.objects.create(name="old_job", func="finances.tasks.gone_task", minutes=5)
    Schedule.objects.create(name="operator", func="django.core.management.call_command")

    result = schedules_sync()

    assert result.removed == ["old_job"]
    assert Schedule.objects.filter(name="operator").exists()


def test_an_interval_below_one_minute_is_refused(settings):
    settings.SCHEDULE_WEBHOOK_EVENTS_RETRY_MINUTES = 0

    with pytest.raises(ValueError, match="SCHEDULE_WEBHOOK_EVENTS_RETRY_MINUTES"):
        schedules_sync()


def test_the_command_reports_what_it_did():
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    call_command("sync_schedules", stdout=out)

    lines = out.getvalue().splitlines()
    assert "created webhook_events_retry" in lines
    assert lines[-1] == f"Schedules: 0 created, 0 updated, {len(NAMES)} unchanged, 0 removed."
