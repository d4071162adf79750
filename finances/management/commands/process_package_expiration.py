import argparse
from datetime import datetime

from django.core.management.base import BaseCommand
from django.utils import timezone

from finances.services.expiry import packages_expire
from finances.units import minutes_to_hours_string


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--now must be an ISO 8601 date or datetime, not {text!r}"
        ) from error
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Expire the unused hours of packages (and subscription periods) past their expiry: "
        "one EXPIRY ledger entry per lot. Idempotent; safe from cron on several machines."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what would expire.")
        parser.add_argument(
            "--now", type=_parse_now, default=None, help="Pretend it is this time (ISO 8601)."
        )

    def handle(self, *args, dry_run: bool = False, now: datetime | None = None, **options):
        run = packages_expire(now=now, dry_run=dry_run)
        verb = "would expire" if dry_run else "expired"
        for lot in run.lots:
            hours = minutes_to_hours_string(lot.minutes)
            self.stdout.write(
                f"{lot.purchase_transaction_id} student {lot.student_id} {lot.plan_name}: "
                f"{hours} h {verb} (expiry {lot.expires_at.isoformat()})"
            )
        total = minutes_to_hours_string(run.minutes_expired)
        self.stdout.write(
            f"{len(run.lots)} lots {verb}, {total} h in total (as of {run.now.isoformat()})."
        )
