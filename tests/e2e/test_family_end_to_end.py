"""The family loop over real HTTP against the running server, with localstripe as Stripe
and its own signed webhook: the child asks, the guardian pays, the child has the hours."""

import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from finances.models import HoursLedgerEntry, PurchaseRequest
from notifications.models import Notification
from tests.factories import PricingPlanFactory
from tests.support.families import family_create
from tests.support.stripe_events import TEST_WEBHOOK_SECRET, WEBHOOK_URL

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE_SECONDS = 20
HTTP_TIMEOUT_SECONDS = 30


@pytest.fixture
def stripe(localstripe, live_server):
    localstripe.register_webhook(url=f"{live_server.url}{WEBHOOK_URL}", secret=TEST_WEBHOOK_SECRET)
    yield localstripe
    localstripe.unregister_webhook()


class _Api:
    """Calls /api/finances/ on the live server as one user (token)."""

    def __init__(self, live_server, user) -> None:
        self.base = f"{live_server.url}/api/finances/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base + path, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.base + path, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)


def test_the_child_asks_the_guardian_pays_and_the_child_has_the_hours(stripe, live_server):
    family = family_create()
    plan = PricingPlanFactory(minutes=600, price_cents=14000)
    child, guardian = _Api(live_server, family.student), _Api(live_server, family.guardian)

    refused = child.post("purchase/initiate/", json={"plan_id": plan.pk})
    asked = child.post("purchase-requests/", json={"plan_id": plan.pk})
    request_id = asked.json()["id"]
    seen = guardian.get("purchase-requests/", params={"status": "PENDING"}).json()
    paying = guardian.post(f"purchase-requests/{request_id}/pay/", json={})
    assert stripe.pay(paying.json()["payment_intent_id"]).status == "succeeded"
    deadline = time.monotonic() + DEADLINE_SECONDS
    while child.get(f"purchase-requests/{request_id}/").json()["status"] != "PAID":
        assert time.monotonic() < deadline, "the request was not PAID in time"
        time.sleep(0.2)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "guardian_approval_required"
    assert asked.status_code == 201
    assert [row["id"] for row in seen["results"]] == [request_id]
    assert paying.status_code == 201
    assert child.get("balance/").json()["hours_available"] == "10.00"
    balance = guardian.get(f"students/{family.student.pk}/balance/").json()
    assert balance["hours_available"] == "10.00"
    assert (
        HoursLedgerEntry.objects.filter(
            student=family.student, entry_type=HoursLedgerEntry.EntryType.CREDIT
        ).count()
        == 1
    )
    assert PurchaseRequest.objects.get(pk=request_id).status == PurchaseRequest.Status.PAID
    assert set(
        Notification.objects.filter(kind="purchase_request_paid").values_list(
            "recipient_email", flat=True
        )
    ) == {family.student.email, family.guardian.email}
