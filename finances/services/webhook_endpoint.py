"""`manage.py stripe_webhook_endpoint`: the endpoint at Stripe subscribes to exactly the
events we handle (`WEBHOOK_ENDPOINT_EVENTS`), in the pinned API version.

Real Stripe (`STRIPE_SEND_OPTIONAL_PARAMETERS` on: the full API) gets a webhook endpoint
created or updated through its API. localstripe has no endpoint API: the URL is
registered through its `/_config/webhooks/<id>` with our signing secret instead.
"""

from dataclasses import dataclass
from urllib.parse import urlparse

import requests
from django.conf import settings

from core.errors import ApplicationError
from devtools import localstripe as localstripe_control
from finances import stripe_gateway
from finances.stripe_gateway import WebhookEndpointData
from finances.webhooks.events import WEBHOOK_ENDPOINT_EVENTS


@dataclass(frozen=True)
class WebhookEndpointSetup:
    url: str
    events: tuple[str, ...]
    api_version: str
    at_localstripe: bool
    endpoint: WebhookEndpointData | None = None  # real Stripe only

    @property
    def api_version_mismatch(self) -> bool:
        return self.endpoint is not None and self.endpoint.api_version != self.api_version


def webhook_endpoint_url_validate(*, url: str | None) -> str:
    if not url:
        raise ApplicationError(
            "Give the endpoint's public URL: --url https://<host>/api/finances/webhooks/stripe/",
            code="webhook_url_missing",
        )
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ApplicationError(f"{url!r} is not an http(s) URL.", code="webhook_url_invalid")
    return url


def webhook_endpoint_configure(*, url: str | None) -> WebhookEndpointSetup:
    url = webhook_endpoint_url_validate(url=url)
    events = WEBHOOK_ENDPOINT_EVENTS
    api_version = settings.STRIPE_API_VERSION
    if not settings.STRIPE_SEND_OPTIONAL_PARAMETERS:
        try:
            localstripe_control.register_webhook(
                api_base=settings.STRIPE_API_BASE,
                url=url,
                secret=settings.STRIPE_WEBHOOK_SECRETS[0],
                events=list(events),
            )
        except requests.RequestException as error:
            raise ApplicationError(
                f"localstripe at {settings.STRIPE_API_BASE} did not take the registration: {error}",
                code="localstripe_unavailable",
            ) from error
        return WebhookEndpointSetup(url, events, api_version, at_localstripe=True)
    endpoint = stripe_gateway.webhook_endpoint_upsert(
        url=url, enabled_events=events, api_version=api_version
    )
    return WebhookEndpointSetup(url, events, api_version, at_localstripe=False, endpoint=endpoint)
