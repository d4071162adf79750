from django.core.management.base import BaseCommand

from finances.services.subscription_reconciliation import subscriptions_reconcile


class Command(BaseCommand):
    help = "Re-reads open subscriptions from Stripe and grants paid invoices without a grant."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--invoices", type=int, default=6)

    def handle(self, *args, **options):
        run = subscriptions_reconcile(
            limit=options["limit"], invoices_per_subscription=options["invoices"]
        )
        self.stdout.write(
            f"Subscriptions checked: {run.checked}; invoices granted: {len(run.granted)}; "
            f"errors: {len(run.errors)}"
        )
        for error in run.errors:
            self.stderr.write(error)
