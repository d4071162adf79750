"""What a front end needs to take a payment: which Stripe.js to load, with which key."""

from dataclasses import dataclass

from django.conf import settings

REAL_STRIPE_JS_URL = "https://js.stripe.com/v3/"
# localstripe accepts any publishable key; its Stripe.js stand-in only needs one to exist.
LOCALSTRIPE_PUBLISHABLE_KEY = "pk_test_localstripe"


@dataclass(frozen=True)
class StripeJsSettings:
    publishable_key: str
    js_url: str
    is_localstripe: bool


def stripe_js_settings() -> StripeJsSettings:
    """Real Stripe: js.stripe.com and STRIPE_PUBLISHABLE_KEY. localstripe (any other API
    base): its Stripe.js stand-in, served by localstripe itself, and a placeholder key."""
    api_base = settings.STRIPE_API_BASE.rstrip("/")
    # STRIPE_JS_URL (the storefront block of the settings) wins when set.
    override = getattr(settings, "STOREFRONT_STRIPE_JS_URL", "")
    if "api.stripe.com" in api_base:
        return StripeJsSettings(
            publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
            js_url=override or REAL_STRIPE_JS_URL,
            is_localstripe=False,
        )
    return StripeJsSettings(
        publishable_key=settings.STRIPE_PUBLISHABLE_KEY or LOCALSTRIPE_PUBLISHABLE_KEY,
        js_url=override or f"{api_base}/js.stripe.com/v3/",
        is_localstripe=True,
    )
