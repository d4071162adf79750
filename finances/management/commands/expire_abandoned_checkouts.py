from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from finances.services.checkouts import ExpiryAction, abandoned_checkouts_expire


class Command(BaseCommand):
    help = (
        "Close PENDING and FAILED purchases older than CHECKOUT_EXPIRY_HOURS: credit those "
        "paid after all, leave those Stripe is processing, cancel the other PaymentIntents "
        "at Stripe (purchase CANCELLED), and close as FAILED those with no PaymentIntent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read Stripe and say what would be done; change nothing.",
        )
        parser.add_argument(
            "--older-than-hours",
            type=int,
            default=None,
            help=f"Age of an abandoned checkout (default CHECKOUT_EXPIRY_HOURS, "
            f"{settings.CHECKOUT_EXPIRY_HOURS}).",
        )
        parser.add_argument(
            "--limit", type=int, default=200, help="At most this many purchases (default 200)."
        )

    def handle(self, *args, **options):
        hours = options["older_than_hours"]
        if hours is not None and hours < 1:
            raise CommandError("--older-than-hours must be at least 1.")
        run = abandoned_checkouts_expire(
            dry_run=options["dry_run"],
            limit=options["limit"],
            older_than=timedelta(hours=hours) if hours else None,
        )
        prefix = "[dry run] " if run.dry_run else ""
        for result in run.results:
            line = (
                f"{prefix}{result.purchase_id} (Stripe: {result.stripe_status}): {result.message}"
            )
            if result.action == ExpiryAction.ERROR:
                self.stderr.write(line)
            else:
                self.stdout.write(line)
        summary = (
            f"{prefix}Checked {len(run.results)} abandoned checkouts: "
            f"{run.count(ExpiryAction.CANCELLED)} cancelled, "
            f"{run.count(ExpiryAction.CREDITED)} credited, "
            f"{run.count(ExpiryAction.CLOSED_FAILED)} closed as failed, "
            f"{run.count(ExpiryAction.LEFT_PROCESSING)} still processing, "
            f"{run.count(ExpiryAction.UNCHANGED)} unchanged, {len(run.errors)} errors."
        )
        if run.errors:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
