"""The purchase rate limits hold across two real server processes sharing Redis.

Two gunicorn servers (tests/chaos fixtures) on the test database, one Redis and localstripe,
rate limiting on with the defaults: 10 purchases per IP and 5 per email per hour. Every
request here comes from 127.0.0.1, and without TRUSTED_PROXIES the servers ignore
X-Forwarded-For, so the IP limit is tested with a new email each time and the email limit
with one email (its 6 attempts stay within the IP budget of 10).
"""

import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from finances.models import PricingPlan, PurchaseTransaction
from finances.services.plans import pricing_plans_seed
from tests.support.purchase_initiation_helpers import INITIATE_URL

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

IP_LIMIT = 10
EMAIL_LIMIT = 5
WINDOW_SECONDS = 3600


def start_of_a_fresh_window(margin_seconds: int = 60) -> None:
    """Fixed hourly windows: never start a test in the last minute of one."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < margin_seconds:
        time.sleep(left + 1)


@pytest.fixture
def plan() -> PricingPlan:
    pricing_plans_seed()
    return PricingPlan.objects.filter(is_active=True).order_by("display_order", "pk").first()


@pytest.fixture
def servers(two_servers_factory):
    pair = two_servers_factory(rate_limiting=True)
    start_of_a_fresh_window()
    return pair.servers


def initiate(server, plan, email: str, *, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return requests.post(
        server.url + INITIATE_URL,
        json={"plan_id": plan.pk, "student_info": {"name": "Ana Silva", "email": email}},
        headers=headers,
        timeout=30,
    )


def new_email() -> str:
    return f"rl-{uuid.uuid4().hex[:10]}@example.com"


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    window_end = math.ceil(time.time() / WINDOW_SECONDS) * WINDOW_SECONDS
    assert 0 < retry_after <= WINDOW_SECONDS
    assert abs(time.time() + retry_after - window_end) <= 5


def test_the_eleventh_purchase_from_one_ip_is_refused_whichever_server_gets_it(servers, plan):
    answers = [
        initiate(servers[number % 2], plan, new_email(), forwarded_for=f"203.0.113.{number + 1}")
        for number in range(IP_LIMIT)
    ]
    assert [answer.status_code for answer in answers] == [201] * IP_LIMIT, [
        answer.text for answer in answers
    ]

    for server in servers:
        assert_rate_limited(initiate(server, plan, new_email(), forwarded_for="198.51.100.9"))

    assert PurchaseTransaction.objects.count() == IP_LIMIT


def test_the_sixth_purchase_for_one_email_is_refused_whichever_server_gets_it(servers, plan):
    spellings = ["ana@example.com", "ANA@example.com", " Ana@Example.com ", "ana@EXAMPLE.COM"]

    answers = [
        initiate(
            servers[number % 2],
            plan,
            spellings[number % len(spellings)],
            forwarded_for=f"203.0.113.{number + 1}",
        )
        for number in range(EMAIL_LIMIT)
    ]
    assert [answer.status_code for answer in answers] == [201] * EMAIL_LIMIT, [
        answer.text for answer in answers
    ]

    assert_rate_limited(initiate(servers[1], plan, "ana@example.com"))
    assert_rate_limited(initiate(servers[0], plan, "ANA@EXAMPLE.COM"))

    # The IP still has budget (7 of 10 used): the refusals above were the email's limit.
    assert initiate(servers[1], plan, new_email()).status_code == 201
    assert (
        PurchaseTransaction.objects.filter(student__email="ana@example.com").count() == EMAIL_LIMIT
    )


def test_a_simultaneous_burst_on_both_servers_lets_exactly_the_limit_through(servers, plan):
    attempts = 16
    barrier = threading.Barrier(attempts)

    def attempt(number: int):
        barrier.wait(timeout=30)
        return initiate(servers[number % 2], plan, new_email())

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        answers = list(pool.map(attempt, range(attempts)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * IP_LIMIT + [429] * (attempts - IP_LIMIT), [
        answer.text for answer in answers
    ]
    for answer in answers:
        if answer.status_code == 429:
            assert_rate_limited(answer)
    assert PurchaseTransaction.objects.count() == IP_LIMIT
