import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _refuse_development_values_in_production() -> None:
    """gunicorn runs no system checks: run the production ones here, so that a live
    deployment on development secrets does not start at all."""
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured

    from core.checks import PRODUCTION_TAG

    errors = [error for error in checks.run_checks(tags=[PRODUCTION_TAG]) if error.is_serious()]
    if errors:
        raise ImproperlyConfigured(
            "Refusing to start:\n" + "\n".join(f"  {error.id}: {error.msg}" for error in errors)
        )


_refuse_development_values_in_production()


def _log_the_stripe_configuration() -> None:
    """One start-up line with the pinned Stripe API version every request will carry."""
    from finances import stripe_gateway

    stripe_gateway.stripe_client_prepare()


_log_the_stripe_configuration()
