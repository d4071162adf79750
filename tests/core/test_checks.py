"""A deployment that talks to a real Stripe refuses to start on development values: the
system checks are errors (they stop `check`, `migrate`, `runserver`), and config/wsgi.py
runs them at import so gunicorn stops too. With localstripe the defaults serve."""

import importlib
import sys

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.checks import PRODUCTION_TAG

pytestmark = pytest.mark.django_db

GOOD_SECRET_KEY = "k" * 50
GOOD_WEBHOOK_SECRET = "whsec_0123456789abcdef"


@pytest.fixture
def production(settings):
    """A correctly configured production instance at real Stripe."""
    settings.DEBUG = False
    settings.STRIPE_SECRET_KEY = "sk_live_0123456789"
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    settings.STRIPE_WEBHOOK_SECRETS = [GOOD_WEBHOOK_SECRET]
    settings.SECRET_KEY = GOOD_SECRET_KEY
    settings.ALLOWED_HOSTS = ["pay.example.org"]
    return settings


def production_error_ids() -> list[str]:
    return sorted(error.id for error in run_checks(tags=[PRODUCTION_TAG]) if error.is_serious())


def wsgi_import():
    sys.modules.pop("config.wsgi", None)
    return importlib.import_module("config.wsgi")


def test_a_correct_production_configuration_passes(production):
    assert production_error_ids() == []
    assert wsgi_import().application is not None


def test_a_live_key_with_the_public_development_webhook_secret_is_an_error(production):
    production.STRIPE_WEBHOOK_SECRETS = [production.DEVELOPMENT_WEBHOOK_SECRET]

    assert production_error_ids() == ["core.E010"]
    with pytest.raises(SystemCheckError, match=r"core\.E010"):
        call_command("check")
    with pytest.raises(SystemCheckError, match=r"core\.E010"):
        call_command("migrate", verbosity=0, skip_checks=False)  # as from a shell
    with pytest.raises(ImproperlyConfigured, match=r"core\.E010"):
        wsgi_import()


def test_a_live_key_with_no_webhook_secret_or_a_malformed_one_is_an_error(production):
    production.STRIPE_WEBHOOK_SECRETS = []
    assert production_error_ids() == ["core.E010"]

    production.STRIPE_WEBHOOK_SECRETS = ["not-a-secret"]
    assert production_error_ids() == ["core.E011"]


@pytest.mark.parametrize("key", ["django-insecure-aprende-comigo-development-only", "changeme"])
def test_a_live_key_with_a_development_or_weak_secret_key_is_an_error(production, key):
    production.SECRET_KEY = key

    assert production_error_ids() == ["core.E012"]


@pytest.mark.parametrize(
    "hosts", [["127.0.0.1", "localhost", "[::1]", "testserver"], ["localhost"], ["*"], []]
)
def test_a_live_key_with_default_or_wildcard_allowed_hosts_is_an_error(production, hosts):
    production.ALLOWED_HOSTS = hosts

    assert production_error_ids() == ["core.E013"]


def test_a_restricted_live_key_counts_as_live(production):
    production.STRIPE_SECRET_KEY = "rk_live_0123456789"
    production.SECRET_KEY = production.DEVELOPMENT_SECRET_KEY

    assert production_error_ids() == ["core.E012"]


def test_a_live_key_is_checked_even_with_debug_on_and_a_local_api_base(production):
    production.DEBUG = True
    production.STRIPE_API_BASE = "http://127.0.0.1:8420"
    production.STRIPE_WEBHOOK_SECRETS = [production.DEVELOPMENT_WEBHOOK_SECRET]

    assert production_error_ids() == ["core.E010"]


def test_debug_off_with_a_test_key_at_a_remote_stripe_is_checked_too(production):
    production.STRIPE_SECRET_KEY = "sk_test_0123456789"
    production.STRIPE_WEBHOOK_SECRETS = [production.DEVELOPMENT_WEBHOOK_SECRET]
    production.SECRET_KEY = production.DEVELOPMENT_SECRET_KEY
    production.ALLOWED_HOSTS = production.DEVELOPMENT_ALLOWED_HOSTS

    assert production_error_ids() == ["core.E010", "core.E012", "core.E013"]


@pytest.mark.parametrize(
    "api_base", ["http://127.0.0.1:8420", "http://localhost:8420", "http://[::1]:8420"]
)
def test_development_values_serve_with_a_stripe_on_this_machine(settings, api_base):
    settings.DEBUG = False
    settings.STRIPE_SECRET_KEY = "sk_test_localstripe"
    settings.STRIPE_API_BASE = api_base
    settings.STRIPE_WEBHOOK_SECRETS = [settings.DEVELOPMENT_WEBHOOK_SECRET]
    settings.SECRET_KEY = settings.DEVELOPMENT_SECRET_KEY
    settings.ALLOWED_HOSTS = settings.DEVELOPMENT_ALLOWED_HOSTS

    assert production_error_ids() == []
    call_command("check")
    assert wsgi_import().application is not None


def test_a_host_that_only_looks_local_is_not_loopback(production):
    production.STRIPE_SECRET_KEY = "sk_test_0123456789"
    production.STRIPE_API_BASE = "http://127.0.0.1.attacker.example"
    production.SECRET_KEY = production.DEVELOPMENT_SECRET_KEY

    assert production_error_ids() == ["core.E012"]
