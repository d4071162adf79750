from django.core.management.base import BaseCommand

from finances.services.plans import pricing_plans_seed


class Command(BaseCommand):
    help = "Create the default pricing plans that are missing (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-existing",
            action="store_true",
            help="Also put existing default plans back to their default terms.",
        )

    def handle(self, *args, reset_existing: bool = False, **options):
        result = pricing_plans_seed(reset_existing=reset_existing)
        self.stdout.write(
            f"Pricing plans: {len(result.created)} created, {len(result.updated)} reset, "
            f"{len(result.unchanged)} unchanged."
        )
