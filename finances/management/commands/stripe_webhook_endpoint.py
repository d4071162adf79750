from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from finances.services.webhook_endpoint import webhook_endpoint_configure
from finances.stripe_payloads import MalformedStripeObject


class Command(BaseCommand):
    help = (
        "Create or update the Stripe webhook endpoint for URL with exactly the events this "
        "product handles and the pinned STRIPE_API_VERSION; prints the signing secret once, "
        "when the endpoint is created. Against localstripe, registers the URL there."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            help="The endpoint's public URL, e.g. https://host/api/finances/webhooks/stripe/",
        )

    def handle(self, *args, **options):
        try:
            setup = webhook_endpoint_configure(url=options["url"])
        except ApplicationError as error:
            raise CommandError(error.message) from error
        except MalformedStripeObject as error:
            raise CommandError(f"Unreadable answer from Stripe: {error}") from error
        events = f"{len(setup.events)} events"
        if setup.at_localstripe:
            self.stdout.write(
                f"localstripe at {settings.STRIPE_API_BASE} has no webhook endpoint API: "
                f"registered {setup.url} there for {events}, signed with the configured "
                "STRIPE_WEBHOOK_SECRET (localstripe forgets it when it restarts)."
            )
            return
        endpoint = setup.endpoint
        if endpoint.created:
            self.stdout.write(
                f"Created webhook endpoint {endpoint.id} for {endpoint.url} "
                f"(API version {endpoint.api_version}, {events})."
            )
            if endpoint.secret:
                self.stdout.write(
                    f"Signing secret (shown only now; put it in STRIPE_WEBHOOK_SECRET): "
                    f"{endpoint.secret}"
                )
        elif endpoint.updated:
            self.stdout.write(f"Updated webhook endpoint {endpoint.id}: now {events}.")
        else:
            self.stdout.write(f"Webhook endpoint {endpoint.id} already has exactly these {events}.")
        for event_type in setup.events:
            self.stdout.write(f"  {event_type}")
        if setup.api_version_mismatch:
            raise CommandError(
                f"The endpoint's API version is {endpoint.api_version} but STRIPE_API_VERSION "
                f"is {setup.api_version}; Stripe cannot change it on an existing endpoint: "
                "create a new endpoint (roll the signing secret over with "
                "STRIPE_WEBHOOK_SECRETS) and delete the old one."
            )
