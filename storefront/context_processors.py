"""What every storefront page needs to load Stripe.js (read from settings, no request)."""

from django.conf import settings

# localstripe accepts any publishable key; its stand-in only needs one to be given.
LOCALSTRIPE_PUBLISHABLE_KEY = "pk_test_localstripe"
REAL_STRIPE_JS_URL = "https://js.stripe.com/v3/"


def stripe_js_settings() -> dict[str, str]:
    api_base = settings.STRIPE_API_BASE.rstrip("/")
    real_stripe = "api.stripe.com" in api_base
    url = settings.STOREFRONT_STRIPE_JS_URL or (
        REAL_STRIPE_JS_URL if real_stripe else f"{api_base}/js.stripe.com/v3/"
    )
    key = settings.STRIPE_PUBLISHABLE_KEY or ("" if real_stripe else LOCALSTRIPE_PUBLISHABLE_KEY)
    return {"publishable_key": key, "js_url": url}


def stripe_js(request) -> dict:
    return {"stripe_js": stripe_js_settings()}
