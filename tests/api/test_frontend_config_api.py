"""GET /api/finances/config/ and CORS: what a front end on another origin needs, and which
origins may call the API with credentials (none unless configured)."""

import pytest
from django.test import Client, override_settings

from tests.factories import PricingPlanFactory, SubscriptionPlanFactory

pytestmark = pytest.mark.django_db

CONFIG_URL = "/api/finances/config/"
SHOP = "https://shop.example"


def test_against_localstripe_it_names_localstripes_stripe_js_and_a_placeholder_key(settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:8420"
    settings.STRIPE_PUBLISHABLE_KEY = ""

    stripe = Client().get(CONFIG_URL).json()["stripe"]

    assert stripe == {
        "publishable_key": "pk_test_localstripe",
        "js_url": "http://127.0.0.1:8420/js.stripe.com/v3/",
        "is_localstripe": True,
    }


def test_against_real_stripe_it_names_js_stripe_com_and_the_publishable_key(settings):
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_51Real"

    stripe = Client().get(CONFIG_URL).json()["stripe"]

    assert stripe == {
        "publishable_key": "pk_test_51Real",
        "js_url": "https://js.stripe.com/v3/",
        "is_localstripe": False,
    }


def test_it_lists_the_active_plans_with_their_checkout_pages_and_currencies():
    package = PricingPlanFactory(slug="pacote-10h", display_order=1, is_featured=True)
    monthly = SubscriptionPlanFactory(slug="mensal-15h", display_order=2, currency="EUR")
    PricingPlanFactory(slug="withdrawn", is_active=False)

    body = Client().get(CONFIG_URL, HTTP_HOST="127.0.0.1:8000").json()

    assert body["currencies"] == ["EUR"]
    assert [(plan["id"], plan["slug"], plan["checkout_url"]) for plan in body["plans"]] == [
        (package.pk, "pacote-10h", "http://127.0.0.1:8000/checkout/pacote-10h/"),
        (monthly.pk, "mensal-15h", "http://127.0.0.1:8000/checkout/mensal-15h/"),
    ]
    assert body["plans"][0]["price"] == "140.00"
    assert body["plans"][0]["is_featured"] is True
    assert body["endpoints"]["headless_browser"] == "http://127.0.0.1:8000/_allauth/browser/v1/"
    assert body["endpoints"]["purchase_status"].endswith(
        "/api/finances/purchase/{transaction_id}/status/"
    )


def test_it_holds_no_secret(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_do_not_leak"

    text = Client().get(CONFIG_URL).content.decode()

    assert "sk_test_do_not_leak" not in text
    assert "whsec_" not in text


def test_it_answers_anonymous_callers_even_with_a_broken_token():
    response = Client().get(CONFIG_URL, HTTP_AUTHORIZATION="Token nonsense")

    assert response.status_code == 200


def test_by_default_no_origin_is_allowed():
    response = Client().get(CONFIG_URL, HTTP_ORIGIN=SHOP)

    assert "access-control-allow-origin" not in response.headers


@override_settings(CORS_ALLOWED_ORIGINS=[SHOP])
def test_an_allowed_origin_may_call_with_credentials_and_its_headers():
    preflight = Client().options(
        "/api/finances/balance/",
        HTTP_ORIGIN=SHOP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-session-token, x-csrftoken, content-type",
    )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert preflight.headers["access-control-allow-credentials"] == "true"
    allowed = preflight.headers["access-control-allow-headers"]
    assert {"x-session-token", "x-csrftoken", "content-type", "x-client-secret"} <= set(
        allowed.split(", ")
    )


@override_settings(CORS_ALLOWED_ORIGINS=[SHOP])
def test_another_origin_gets_no_cors_headers_and_so_no_credentials():
    response = Client().get(CONFIG_URL, HTTP_ORIGIN="https://evil.example")

    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


@override_settings(CORS_ALLOWED_ORIGINS=[SHOP])
def test_cors_covers_the_api_and_sign_in_only_not_the_admin():
    admin = Client().get("/admin/login/", HTTP_ORIGIN=SHOP)
    headless = Client().get("/_allauth/browser/v1/config", HTTP_ORIGIN=SHOP)

    assert "access-control-allow-origin" not in admin.headers
    assert headless.headers["access-control-allow-origin"] == SHOP


def test_allowed_origins_come_from_the_environment_and_are_csrf_trusted(monkeypatch):
    import importlib

    import config.settings as project_settings

    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", f"{SHOP},https://app.example")
    monkeypatch.setenv("DJANGO_CSRF_TRUSTED_ORIGINS", SHOP)
    try:
        reloaded = importlib.reload(project_settings)
        assert reloaded.CORS_ALLOWED_ORIGINS == [SHOP, "https://app.example"]
        assert reloaded.CSRF_TRUSTED_ORIGINS == [SHOP, "https://app.example"]
    finally:
        monkeypatch.delenv("CORS_ALLOWED_ORIGINS")
        monkeypatch.delenv("DJANGO_CSRF_TRUSTED_ORIGINS")
        importlib.reload(project_settings)


def test_the_storefronts_stripe_js_url_setting_wins_when_set(settings):
    settings.STOREFRONT_STRIPE_JS_URL = "https://cdn.example/stripe-v3.js"

    assert Client().get(CONFIG_URL).json()["stripe"]["js_url"] == (
        "https://cdn.example/stripe-v3.js"
    )
