"""Rate limits of POST /api/finances/purchase/initiate/: 10/hour per IP (per /64 for
IPv6), 5/hour per guest email once the request is valid, 3/hour (here) per signed-in
buyer; a cache outage is a 503 with Retry-After."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import time_machine
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from finances.models import PurchaseTransaction
from tests.factories import GuardianStudentLinkFactory, PricingPlanFactory, UserFactory
from tests.support.purchase_initiation_helpers import INITIATE_URL

pytestmark = pytest.mark.django_db

# Five seconds into an hourly window, so a test never straddles two windows.
WINDOW_START = datetime(2025, 3, 4, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def limits(settings):
    settings.RATE_LIMITING_ENABLED = True
    settings.RATE_LIMITS = {
        "purchase_initiate_ip": "10/hour",
        "purchase_initiate_email": "5/hour",
        "purchase_initiate_user": "3/hour",
    }
    settings.RATE_LIMIT_IPV6_PREFIX = 64
    settings.TRUSTED_PROXIES = []
    with time_machine.travel(WINDOW_START, tick=True):
        yield settings


@pytest.fixture
def plan(db):
    return PricingPlanFactory()


def initiate(client, plan, *, email: str, **meta):
    body = {"plan_id": plan.pk, "student_info": {"name": "Ana Silva", "email": email}}
    return client.post(INITIATE_URL, body, format="json", **meta)


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.json()
    assert response.json()["error"]["code"] == "rate_limited"
    assert 3500 < int(response["Retry-After"]) <= 3595


def test_the_eleventh_attempt_from_one_ip_is_refused(api_client, localstripe, limits, plan):
    for number in range(10):
        response = initiate(api_client, plan, email=f"s{number}@example.com")
        assert response.status_code == 201, response.json()

    refused = initiate(api_client, plan, email="s10@example.com")

    assert_rate_limited(refused)
    assert PurchaseTransaction.objects.count() == 10
    other_ip = initiate(api_client, plan, email="s11@example.com", REMOTE_ADDR="198.51.100.2")
    assert other_ip.status_code == 201


def test_invalid_attempts_count_against_the_ip_too(api_client, limits, plan):
    for _ in range(10):
        assert api_client.post(INITIATE_URL, {"plan_id": "x"}, format="json").status_code == 400

    assert_rate_limited(initiate(api_client, plan, email="ana@example.com"))
    assert not PurchaseTransaction.objects.exists()


def test_the_sixth_attempt_for_one_email_is_refused_from_any_ip(
    api_client, localstripe, limits, plan
):
    for number in range(5):
        response = initiate(
            api_client, plan, email="ana@example.com", REMOTE_ADDR=f"198.51.100.{number + 1}"
        )
        assert response.status_code == 201, response.json()

    # Another spelling of the same address is the same address.
    refused = initiate(api_client, plan, email=" ANA@Example.com", REMOTE_ADDR="203.0.113.50")

    assert_rate_limited(refused)
    assert PurchaseTransaction.objects.count() == 5


def signed_in(client, user) -> None:
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


def test_a_signed_in_buyer_is_limited_per_account_from_any_ip(
    api_client, localstripe, limits, plan
):
    signed_in(api_client, UserFactory())
    for number in range(3):
        response = api_client.post(
            INITIATE_URL, {"plan_id": plan.pk}, format="json", REMOTE_ADDR=f"198.51.100.{number}"
        )
        assert response.status_code == 201

    refused = api_client.post(
        INITIATE_URL, {"plan_id": plan.pk}, format="json", REMOTE_ADDR="203.0.113.50"
    )

    assert_rate_limited(refused)
    assert PurchaseTransaction.objects.count() == 3


def test_invalid_plans_sent_with_an_email_do_not_lock_its_owner_out(
    api_client, localstripe, limits, plan
):
    # Issue 9 (4): five anonymous 400s carrying a user's email locked them out for an hour.
    owner = UserFactory(email="owner@example.com")
    for number in range(8):
        attacker = initiate(
            APIClient(),
            SimpleNamespace(pk=plan.pk + 1000),  # no such plan
            email="owner@example.com",
            REMOTE_ADDR=f"198.51.100.{number}",
        )
        assert attacker.status_code == 400
    inactive = PricingPlanFactory(is_active=False)
    for number in range(8):
        attacker = initiate(
            APIClient(), inactive, email="owner@example.com", REMOTE_ADDR=f"198.51.101.{number}"
        )
        assert attacker.status_code == 400

    as_guest = initiate(APIClient(), plan, email="owner@example.com", REMOTE_ADDR="192.0.2.1")
    signed_in(api_client, owner)
    as_owner = api_client.post(
        INITIATE_URL, {"plan_id": plan.pk}, format="json", REMOTE_ADDR="192.0.2.2"
    )

    assert as_guest.status_code == 201, as_guest.json()
    assert as_owner.status_code == 201, as_owner.json()


def test_valid_anonymous_requests_filling_an_email_bucket_do_not_lock_out_its_signed_in_owner(
    api_client, localstripe, limits, plan
):
    owner = UserFactory(email="owner@example.com")
    for number in range(5):
        response = initiate(
            APIClient(), plan, email="owner@example.com", REMOTE_ADDR=f"198.51.100.{number}"
        )
        assert response.status_code == 201
    assert_rate_limited(
        initiate(APIClient(), plan, email="owner@example.com", REMOTE_ADDR="198.51.100.99")
    )

    signed_in(api_client, owner)
    response = api_client.post(
        INITIATE_URL, {"plan_id": plan.pk}, format="json", REMOTE_ADDR="192.0.2.2"
    )

    assert response.status_code == 201, response.json()
    assert PurchaseTransaction.objects.filter(student=owner).count() == 6


def test_a_signed_in_guardian_buying_for_a_linked_student_is_counted_on_the_account(
    api_client, localstripe, limits, plan
):
    link = GuardianStudentLinkFactory()
    for number in range(5):
        initiate(APIClient(), plan, email=link.student.email, REMOTE_ADDR=f"198.51.100.{number}")
    signed_in(api_client, link.guardian)

    response = initiate(api_client, plan, email=link.student.email, REMOTE_ADDR="192.0.2.3")

    assert response.status_code == 201, response.json()
    assert PurchaseTransaction.objects.get(pk=response.json()["transaction_id"]).purchased_by_id


def test_one_ipv6_slash_64_is_one_bucket(api_client, localstripe, limits, plan):
    # Issue 9 (5): each address of a /64 was its own bucket; 15 from one /64 all passed.
    statuses = [
        initiate(
            api_client,
            plan,
            email=f"v6-{number}@example.com",
            REMOTE_ADDR=f"2001:db8:7:9::{number:x}",
        ).status_code
        for number in range(1, 16)
    ]

    assert statuses == [201] * 10 + [429] * 5
    other_network = initiate(
        api_client, plan, email="v6-x@example.com", REMOTE_ADDR="2001:db8:7:a::1"
    )
    assert other_network.status_code == 201


def test_the_ipv6_prefix_is_configurable(api_client, localstripe, limits, plan):
    limits.RATE_LIMIT_IPV6_PREFIX = 48
    for number in range(10):
        response = initiate(
            api_client,
            plan,
            email=f"s{number}@example.com",
            REMOTE_ADDR=f"2001:db8:7:{number:x}::1",
        )
        assert response.status_code == 201

    assert_rate_limited(
        initiate(api_client, plan, email="s10@example.com", REMOTE_ADDR="2001:db8:7:ffff::1")
    )


def test_an_ipv4_mapped_address_shares_the_ipv4_bucket(api_client, localstripe, limits, plan):
    for number in range(10):
        address = "::ffff:192.0.2.9" if number % 2 else "192.0.2.9"
        response = initiate(api_client, plan, email=f"s{number}@example.com", REMOTE_ADDR=address)
        assert response.status_code == 201

    assert_rate_limited(
        initiate(api_client, plan, email="s10@example.com", REMOTE_ADDR="::ffff:192.0.2.9")
    )
    assert_rate_limited(
        initiate(api_client, plan, email="s11@example.com", REMOTE_ADDR="192.0.2.9")
    )


@pytest.mark.parametrize("signed_in_buyer", [False, True])
def test_a_cache_outage_answers_503_with_retry_after_and_starts_nothing(
    api_client, localstripe, limits, plan, signed_in_buyer
):
    # Issue 9 (7): with Redis down, initiation answered an opaque 500.
    limits.CACHES = {"default": {"BACKEND": "tests.support.broken_cache.BrokenCache"}}
    if signed_in_buyer:
        signed_in(api_client, UserFactory())

    response = initiate(api_client, plan, email="ana@example.com")

    assert response.status_code == 503, response.content
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "This service is briefly unavailable. Try again shortly.",
        }
    }
    assert int(response["Retry-After"]) > 0
    assert not PurchaseTransaction.objects.exists()


def test_forwarded_for_does_not_evade_the_ip_limit_without_trusted_proxies(
    api_client, localstripe, limits, plan
):
    for number in range(10):
        response = initiate(
            api_client,
            plan,
            email=f"s{number}@example.com",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{number}",
        )
        assert response.status_code == 201

    refused = initiate(
        api_client, plan, email="s10@example.com", HTTP_X_FORWARDED_FOR="203.0.113.99"
    )

    assert_rate_limited(refused)


def test_forwarded_for_from_a_trusted_proxy_identifies_each_client(
    api_client, localstripe, limits, plan
):
    limits.TRUSTED_PROXIES = ["10.0.0.0/8"]
    via_proxy = {"REMOTE_ADDR": "10.0.0.1"}

    # Twelve clients behind one proxy: more than ten, each within its own limit.
    for number in range(12):
        response = initiate(
            api_client,
            plan,
            email=f"c{number}@example.com",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{number}",
            **via_proxy,
        )
        assert response.status_code == 201, response.json()

    # One client behind the proxy is still limited, whatever it writes in front.
    for number in range(10):
        response = initiate(
            api_client,
            plan,
            email=f"d{number}@example.com",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{number}, 198.51.100.77",
            **via_proxy,
        )
        assert response.status_code == 201
    refused = initiate(
        api_client,
        plan,
        email="d10@example.com",
        HTTP_X_FORWARDED_FOR="9.9.9.9, 198.51.100.77",
        **via_proxy,
    )

    assert_rate_limited(refused)


def test_nothing_is_limited_when_rate_limiting_is_disabled(api_client, localstripe, limits, plan):
    limits.RATE_LIMITING_ENABLED = False

    statuses = {initiate(api_client, plan, email="ana@example.com").status_code for _ in range(12)}

    assert statuses == {201}
    assert PurchaseTransaction.objects.count() == 12
