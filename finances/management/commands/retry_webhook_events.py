from django.core.management.base import BaseCommand, CommandError

from finances.services.webhook_retries import webhook_events_retry


class Command(BaseCommand):
    help = (
        "Process again the webhook events that failed (after their backoff) or were left "
        "unfinished by a dead worker. Safe to run from cron on several machines at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--ids",
            help="Comma-separated Stripe event ids (evt_...) or log row ids; retried even past "
            "the backoff and the maximum number of retries.",
        )
        parser.add_argument(
            "--failed", action="store_true", help="Every FAILED event with retries left, now."
        )
        parser.add_argument("--type", dest="event_type", help="Only events of this type.")
        parser.add_argument("--dry-run", action="store_true", help="List, do not process.")
        parser.add_argument("--limit", type=int, default=500, help="At most this many events.")

    def handle(self, *args, **options):
        event_ids = [value.strip() for value in (options["ids"] or "").split(",") if value.strip()]
        run = webhook_events_retry(
            event_ids=event_ids or None,
            failed_only=options["failed"],
            event_type=options["event_type"],
            dry_run=options["dry_run"],
            limit=options["limit"],
            via="command",  # the system acts: no permission needed, every replay recorded
        )
        if run.dry_run:
            for stripe_event_id in run.skipped:
                self.stdout.write(f"would retry {stripe_event_id}")
            self.stdout.write(f"Dry run: {run.selected} events would be retried.")
            return
        for receipt in run.receipts:
            self.stdout.write(f"{receipt.event_id}: {receipt.status} {receipt.message}".rstrip())
        counts = run.outcome_counts
        summary = (
            f"Retried {len(run.receipts)} of {run.selected} selected events: "
            f"{counts.get('PROCESSED', 0)} processed, {counts.get('IGNORED', 0)} ignored, "
            f"{counts.get('FAILED', 0)} failed, {len(run.skipped)} skipped (busy elsewhere)."
        )
        if run.failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
