"""The Stripe webhook is served right after SecurityMiddleware, past the rest of the stack."""

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware

from finances.models import PurchaseTransaction
from tests.factories import PurchaseTransactionFactory
from tests.support.stripe_events import post_event
from tests.support.webhook_pipeline_helpers import succeeded_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def middleware_calls(monkeypatch):
    """Which of two middlewares below the shortcut ran for a request."""
    calls = []
    for middleware in (SessionMiddleware, XFrameOptionsMiddleware):
        real = middleware.__call__

        def counting(self, request, real=real, name=middleware.__name__):
            calls.append(name)
            return real(self, request)

        monkeypatch.setattr(middleware, "__call__", counting)
    return calls


def test_a_webhook_delivery_skips_sessions_and_the_rest_of_the_stack(client, middleware_calls):
    purchase = PurchaseTransactionFactory()

    response = post_event(client, succeeded_event(purchase))

    assert response.status_code == 200, response.content
    assert middleware_calls == []
    assert "X-Frame-Options" not in response  # clickjacking's header: it never ran
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware's: it did
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED


def test_other_paths_go_down_the_whole_stack(client, middleware_calls):
    response = client.get("/api/finances/plans/")

    assert response.status_code == 200
    assert middleware_calls == ["SessionMiddleware", "XFrameOptionsMiddleware"]


def test_a_get_on_the_webhook_still_gets_the_standard_405_envelope(client):
    response = client.get("/api/finances/webhooks/stripe/")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
