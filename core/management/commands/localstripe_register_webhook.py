from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.runinfo import uses_localstripe
from devtools import localstripe


class Command(BaseCommand):
    help = (
        "Development: tell localstripe (STRIPE_API_BASE) to deliver its events to URL, "
        "signed with the configured webhook secret. Refuses any other Stripe."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True)

    def handle(self, *args, url: str, **options):
        if not uses_localstripe():
            raise CommandError(f"{settings.STRIPE_API_BASE} is not localstripe.")
        localstripe.register_webhook(
            api_base=settings.STRIPE_API_BASE, url=url, secret=settings.STRIPE_WEBHOOK_SECRETS[0]
        )
