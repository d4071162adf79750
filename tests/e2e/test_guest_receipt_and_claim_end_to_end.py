"""End to end, in Portuguese: a guest buys over HTTP, pays at localstripe, whose webhook
completes the purchase; the worker emails the receipt with the claim link; the guest
opens it on the running server, sets a password, lands on /account/ signed in, and the
finance API shows the hours with that session."""

import re
import time

import pytest
import requests
from django.core import mail

from accounts.models import User
from finances.models import PurchaseTransaction
from tests.factories import PricingPlanFactory
from tests.support.jobs import jobs_run_queued
from tests.support.stripe_events import TEST_WEBHOOK_SECRET, WEBHOOK_URL

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 30
PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def stripe(localstripe, live_server):
    localstripe.register_webhook(url=f"{live_server.url}{WEBHOOK_URL}", secret=TEST_WEBHOOK_SECRET)
    yield localstripe
    localstripe.unregister_webhook()


def _wait_completed(transaction_id: str) -> None:
    deadline = time.monotonic() + 20
    while PurchaseTransaction.objects.get(pk=transaction_id).status != "COMPLETED":
        assert time.monotonic() < deadline, "the webhook never completed the purchase"
        time.sleep(0.2)


def test_a_guest_buys_gets_the_receipt_claims_the_account_and_sees_the_hours(
    stripe, live_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    plan = PricingPlanFactory(name="Pacote 10 horas", minutes=600, price_cents=14000)
    started = requests.post(
        f"{live_server.url}/api/finances/purchase/initiate/",
        json={
            "plan_id": plan.pk,
            "student_info": {"name": "Ana Silva", "email": "ana@example.com"},
        },
        headers={"Accept-Language": "pt-PT,pt;q=0.9"},
        timeout=TIMEOUT,
    ).json()

    stripe.pay(started["payment_intent_id"])
    _wait_completed(started["transaction_id"])
    jobs_run_queued()

    [receipt] = mail.outbox
    assert receipt.to == ["ana@example.com"]
    assert receipt.subject == "Recibo: Pacote 10 horas, 140,00 €"
    assert "140,00\u00a0€" in receipt.body
    claim_url = re.search(r"(http://\S+/accounts/claim/#\S+)", receipt.body).group(1)

    browser = requests.Session()
    page_url, token = claim_url.split("#", 1)
    page = browser.get(page_url, timeout=TIMEOUT)  # the fragment is never sent
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    claimed = browser.post(
        page_url,
        data={
            "csrfmiddlewaretoken": csrf,
            "token": token,
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )

    assert claimed.status_code == 302
    assert claimed.headers["Location"] == "/account/"
    balance = browser.get(f"{live_server.url}/api/finances/balance/", timeout=TIMEOUT).json()
    assert balance["minutes_available"] == 600
    guest = User.objects.get(email="ana@example.com")
    assert (guest.is_guest, guest.language) == (False, "pt-pt")
