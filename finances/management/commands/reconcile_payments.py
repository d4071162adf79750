import argparse
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from finances.services.reconciliation import payments_reconcile, reconciliation_run_record


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"Expected an ISO 8601 date, not {text!r}") from error
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Ask Stripe about purchases still open after N minutes (and completed ones, for missed "
        "refunds) and apply what the webhooks missed; then replay recent Stripe events that "
        "never reached the webhook log."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=30,
            help="Only purchases created at least this long ago (default 30).",
        )
        parser.add_argument("--since", type=_date, help="Only purchases created from this date.")
        parser.add_argument("--until", type=_date, help="Only purchases created before this date.")
        parser.add_argument(
            "--open-only",
            action="store_true",
            help="Skip completed purchases (their refunds are not checked).",
        )
        parser.add_argument(
            "--max-purchases",
            type=int,
            default=None,
            help="Ask Stripe about at most this many purchases, open ones first "
            "(default RECONCILE_MAX_PURCHASES_PER_RUN).",
        )
        parser.add_argument(
            "--events-since-hours",
            type=int,
            default=72,
            help="Replay Stripe events of the last N hours missing from the log (0: skip).",
        )

    def handle(self, *args, **options):
        since = options["since"]
        if since is None:
            since = timezone.now() - timedelta(days=30)
        run = payments_reconcile(
            older_than=timedelta(minutes=options["older_than_minutes"]),
            created_from=since,
            created_until=options["until"],
            include_completed=not options["open_only"],
            limit=options["max_purchases"],
            events_since=(
                timedelta(hours=options["events_since_hours"])
                if options["events_since_hours"]
                else None
            ),
        )
        reconciliation_run_record(run=run, via="command")
        changed = [item for item in run.purchases if item.changed]
        for item in changed:
            messages = "; ".join(outcome.message for outcome in item.outcomes)
            self.stdout.write(f"{item.purchase_id} (Stripe: {item.stripe_status}): {messages}")
        for error in run.errors:
            self.stderr.write(error)
        summary = (
            f"Checked {len(run.purchases)} purchases: {len(changed)} repaired, "
            f"{len(run.errors)} errors; {run.events_listed} Stripe events listed, "
            f"{len(run.events_missing)} missing ones processed."
        )
        if run.errors:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
