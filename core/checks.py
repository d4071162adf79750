import ipaddress
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, register

from core.rate_limit import rate_parse

# Checks that must stop a production start (run by `check`, `migrate`, `runserver`, and
# by config/wsgi.py at import, since gunicorn runs no checks).
PRODUCTION_TAG = "production"
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


@register()
def rate_limits_are_well_formed(app_configs, **kwargs) -> list[Error]:
    """A mistyped rate must stop the deploy, not weaken (or break) every purchase."""
    errors = []
    for scope, text in settings.RATE_LIMITS.items():
        try:
            rate_parse(text)
        except ValueError as error:
            errors.append(Error(f"RATE_LIMITS[{scope!r}]: {error}", id="core.E001"))
    return errors


def stripe_is_loopback() -> bool:
    """localstripe or a test double on this machine: the only Stripe development values
    may serve."""
    host = (urlparse(settings.STRIPE_API_BASE).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def talks_to_real_money() -> bool:
    live_key = settings.STRIPE_SECRET_KEY.startswith(LIVE_KEY_PREFIXES)
    return live_key or (not settings.DEBUG and not stripe_is_loopback())


@register(PRODUCTION_TAG)
def production_refuses_development_values(app_configs, **kwargs) -> list[Error]:
    """With a live key, or DEBUG off and a Stripe that is not on this machine, a
    development or missing secret would let anyone forge payments or sessions."""
    if not talks_to_real_money():
        return []
    why = (
        "a live Stripe key is set"
        if settings.STRIPE_SECRET_KEY.startswith(LIVE_KEY_PREFIXES)
        else f"DEBUG is off and Stripe is {settings.STRIPE_API_BASE}"
    )
    errors = []
    secrets = [secret for secret in settings.STRIPE_WEBHOOK_SECRETS if secret]
    if not secrets or settings.DEVELOPMENT_WEBHOOK_SECRET in secrets:
        errors.append(
            Error(
                f"STRIPE_WEBHOOK_SECRET(S) is missing or the public development secret, and {why}.",
                hint="Set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret (whsec_...).",
                id="core.E010",
            )
        )
    elif not all(secret.startswith("whsec_") and len(secret) > 10 for secret in secrets):
        errors.append(
            Error(
                f"STRIPE_WEBHOOK_SECRET(S) holds a value that is not a signing secret, and {why}.",
                hint="Each secret starts with whsec_.",
                id="core.E011",
            )
        )
    key = settings.SECRET_KEY or ""
    if key == settings.DEVELOPMENT_SECRET_KEY or key.startswith("django-insecure") or len(key) < 32:
        errors.append(
            Error(
                f"DJANGO_SECRET_KEY is missing, the development key or too short, and {why}.",
                hint="Set DJANGO_SECRET_KEY to at least 50 random characters.",
                id="core.E012",
            )
        )
    hosts = set(settings.ALLOWED_HOSTS)
    if not hosts or "*" in hosts or hosts <= set(settings.DEVELOPMENT_ALLOWED_HOSTS):
        errors.append(
            Error(
                f"ALLOWED_HOSTS is left at the development defaults or contains '*', and {why}.",
                hint="Set DJANGO_ALLOWED_HOSTS to this deployment's host names.",
                id="core.E013",
            )
        )
    return errors
