"""An open dispute shows where operators look: /metrics/, the health details, the admin
(purchase page, "open dispute" filter) and the student's balance (hours on hold)."""

import pytest
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from finances.models import PurchaseTransaction
from finances.selectors.health import health_report
from tests.factories import PurchaseTransactionFactory, StaffUserFactory
from tests.support.stripe_events import dispute_object, event, post_event
from tests.support.webhook_pipeline_helpers import succeeded_event

pytestmark = pytest.mark.django_db
BALANCE_URL = "/api/finances/balance/"


@pytest.fixture(autouse=True)
def metrics_open(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_BEARER_TOKEN = ""


@pytest.fixture
def disputed(api_client):
    purchase = PurchaseTransactionFactory()
    assert post_event(api_client, succeeded_event(purchase)).status_code == 200
    purchase.refresh_from_db()
    document = event("charge.dispute.created", dispute_object(purchase, dispute_id="dp_seen"))
    assert post_event(api_client, document).status_code == 200
    return purchase


@pytest.fixture
def undisputed(api_client):
    purchase = PurchaseTransactionFactory()
    assert post_event(api_client, succeeded_event(purchase)).status_code == 200
    return purchase


def _samples(client) -> dict:
    body = client.get("/metrics/").content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_count_open_disputes_and_their_amount_by_currency(api_client, disputed):
    samples = _samples(api_client)

    assert samples[("aprende_disputes_open", ())] == 1
    assert samples[("aprende_disputed_amount_cents", (("currency", "EUR"),))] == 14000


def test_a_closed_dispute_leaves_the_open_count(api_client, disputed):
    document = event(
        "charge.dispute.closed", dispute_object(disputed, dispute_id="dp_seen", status="won")
    )
    assert post_event(api_client, document).status_code == 200

    assert _samples(api_client)[("aprende_disputes_open", ())] == 0


def test_health_details_name_open_disputes_without_turning_unhealthy(disputed):
    webhooks = health_report(include_stripe=False).checks["webhooks"]

    assert webhooks["ok"] is True
    assert webhooks["open_disputes"] == 1
    assert webhooks["disputed_amount_cents"] == {"EUR": 14000}


def test_the_admin_filters_purchases_with_an_open_dispute_and_shows_it(disputed, undisputed):
    staff = Client()
    staff.force_login(StaffUserFactory())
    changelist = reverse("admin:finances_purchasetransaction_changelist")

    filtered = staff.get(changelist, {"dispute": "open"})
    page = staff.get(reverse("admin:finances_purchasetransaction_change", args=[disputed.pk]))

    assert filtered.status_code == 200
    assert list(filtered.context["cl"].queryset) == [disputed]
    assert "dp_seen" in page.content.decode()


def test_the_balance_shows_the_hours_on_hold(api_client, disputed):
    student = disputed.student
    api_client.force_authenticate(student)

    totals = api_client.get(BALANCE_URL).json()["totals"]

    assert totals["hours_on_hold"] == "10.00"
    assert totals["hours_remaining"] == "0.00"
    assert PurchaseTransaction.objects.get(pk=disputed.pk).needs_review


def test_the_admin_webhook_health_page_shows_open_disputes_and_held_hours(disputed):
    client = Client()
    client.force_login(StaffUserFactory())

    page = client.get(reverse("admin:finances_webhookeventlog_health")).content.decode()

    assert "Open disputes (chargebacks)" in page
    assert "<tr><th>Open disputes</th><td>1</td></tr>" in page
    assert "14000 cents EUR" in page
    assert "<tr><th>Hours on hold</th><td>600 minutes</td></tr>" in page
