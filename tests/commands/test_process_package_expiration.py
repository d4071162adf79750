"""`manage.py process_package_expiration [--dry-run] [--now ISO]`."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from finances.models import HoursLedgerEntry
from finances.services.consumption import lesson_consumption_record
from tests.factories import UserFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import (
    assert_ledger_clean,
    balance_of,
    lot_entries,
    paid_package,
    run_manage,
)

pytestmark = pytest.mark.django_db

EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def student():
    return UserFactory()


@pytest.fixture
def expired(student):
    """Expired ten days ago with 450 of its 600 minutes unused."""
    package = paid_package(student, minutes=600, validity_days=30, paid_at=NOW - timedelta(days=40))
    lesson_consumption_record(
        actor=lesson_recorder(),
        student_id=student.pk,
        minutes=150,
        lesson_reference="L-1",
        now=package.expires_at - timedelta(days=1),
    )
    return package


@pytest.fixture
def valid(student):
    """Expires in 90 days, untouched."""
    return paid_package(student, minutes=300, price_cents=7500, validity_days=90)


def _run(*arguments: str) -> str:
    out = StringIO()
    call_command("process_package_expiration", *arguments, stdout=out)
    return out.getvalue()


def test_the_command_expires_unused_hours_and_lists_each_lot(student, expired, valid):
    output = _run()

    assert output.splitlines() == [
        f"{expired.pk} student {student.pk} {expired.plan_name}: 7.50 h expired "
        f"(expiry {expired.expires_at.isoformat()})",
        f"1 lots expired, 7.50 h in total (as of {NOW.isoformat()}).",
    ]
    assert lot_entries(expired)[-1] == (EntryType.EXPIRY, -450)
    assert lot_entries(valid) == [(EntryType.CREDIT, 300)]
    balance = balance_of(student)
    assert (balance.expired_minutes, balance.remaining_minutes) == (450, 300)
    assert_ledger_clean()


def test_running_the_command_twice_expires_nothing_more(student, expired, valid):
    _run()
    entries_before = HoursLedgerEntry.objects.count()

    output = _run()

    assert output.splitlines() == [f"0 lots expired, 0.00 h in total (as of {NOW.isoformat()})."]
    assert HoursLedgerEntry.objects.count() == entries_before
    assert balance_of(student).expired_minutes == 450


def test_a_dry_run_lists_what_would_expire_and_writes_nothing(student, expired, valid):
    entries_before = HoursLedgerEntry.objects.count()

    output = _run("--dry-run")

    assert f"{expired.pk} student {student.pk}" in output
    assert "7.50 h would expire" in output
    assert output.splitlines()[-1].startswith("1 lots would expire, 7.50 h in total")
    assert HoursLedgerEntry.objects.count() == entries_before
    assert balance_of(student).expired_minutes == 0


def test_now_in_the_future_expires_the_lots_expiring_before_it(student, expired, valid):
    moment = valid.expires_at + timedelta(minutes=1)

    output = _run("--now", moment.isoformat())

    assert output.splitlines()[-1] == (
        f"2 lots expired, 12.50 h in total (as of {moment.isoformat()})."
    )
    assert lot_entries(valid)[-1] == (EntryType.EXPIRY, -300)
    assert balance_of(student).remaining_minutes == 0
    assert_ledger_clean()


def test_now_in_the_past_expires_nothing_that_had_not_expired_then(student, expired, valid):
    output = _run("--now", "2025-05-01")

    assert output.splitlines()[-1].startswith("0 lots expired, 0.00 h in total")
    assert "2025-05-01T00:00:00" in output
    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.EXPIRY).exists()


def test_now_without_a_time_zone_is_read_in_the_project_time_zone(student, valid):
    local_expiry = valid.expires_at.astimezone(ZoneInfo(settings.TIME_ZONE)).replace(tzinfo=None)

    just_before = _run("--now", (local_expiry - timedelta(seconds=1)).isoformat())
    at_expiry = _run("--now", local_expiry.isoformat())

    assert just_before.splitlines()[-1].startswith("0 lots expired")
    assert at_expiry.splitlines()[-1].startswith("1 lots expired, 5.00 h")


def test_a_now_that_is_not_a_date_is_refused(student, expired):
    with pytest.raises(CommandError, match="ISO 8601"):
        _run("--now", "next tuesday")

    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.EXPIRY).exists()


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_the_command_exits_0_and_prints_its_summary(capsys, student, expired):
    result = run_manage(capsys, "process_package_expiration")

    assert result.exit_code == 0, result.stderr
    assert "1 lots expired, 7.50 h in total" in result.stdout
    assert balance_of(student).expired_minutes == 450


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_bad_now_exits_non_zero_with_a_message_not_a_traceback(capsys):
    result = run_manage(capsys, "process_package_expiration", "--now", "next tuesday")

    assert result.exit_code != 0
    assert "next tuesday" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
