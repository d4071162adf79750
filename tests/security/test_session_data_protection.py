"""Every finance and account endpoint, called the way the pages and single-page apps call
it (a session cookie, or a headless session token) instead of a DRF token: each caller
sees only their own purchases, balance and ledger (a guardian: what they paid for), and a
session-authenticated write needs its CSRF token."""

import uuid

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from tests.factories import (
    PASSWORD,
    GuardianStudentLinkFactory,
    PricingPlanFactory,
    PurchaseTransactionFactory,
)
from tests.support.payments import purchase_pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def households():
    """A student with a purchase of its own and one its guardian paid; a stranger with one."""
    link = GuardianStudentLinkFactory()
    own = PurchaseTransactionFactory(student=link.student)
    paid_by_guardian = PurchaseTransactionFactory(
        student=link.student, purchased_by=link.guardian, plan=PricingPlanFactory(minutes=300)
    )
    stranger = PurchaseTransactionFactory(plan=PricingPlanFactory(minutes=900))
    for purchase in (own, paid_by_guardian, stranger):
        purchase_pay(purchase)
    return {
        "student": (link.student, {own.pk, paid_by_guardian.pk}, 900),
        "guardian": (link.guardian, {paid_by_guardian.pk}, 0),
        "stranger": (stranger.student, {stranger.pk}, 900),
    }


def signed_in(user, how: str) -> tuple[Client, dict]:
    """A client signed in as `user` through the pages' session or a headless token."""
    if how == "session":
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client, {}
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    response = Client().post(
        "/_allauth/app/v1/auth/login",
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    return Client(enforce_csrf_checks=True), {
        "HTTP_X_SESSION_TOKEN": response.json()["meta"]["session_token"]
    }


HOW = ["session", "headless_token"]
WHO = ["student", "guardian", "stranger"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("who", WHO)
def test_the_purchase_list_is_the_callers_own(households, who, how):
    user, expected, _ = households[who]
    client, headers = signed_in(user, how)

    response = client.get("/api/finances/transactions/", {"page_size": 100}, **headers)

    assert response.status_code == 200
    assert {uuid.UUID(row["transaction_id"]) for row in response.json()["results"]} == expected


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("who", WHO)
def test_the_balance_and_its_history_are_the_callers_own(households, who, how):
    user, _, minutes = households[who]
    someone_else = households["stranger" if who != "stranger" else "student"][0]
    client, headers = signed_in(user, how)

    balance = client.get("/api/finances/balance/", {"student_id": someone_else.pk}, **headers)
    history = client.get(
        "/api/finances/balance/history/", {"student_id": someone_else.pk}, **headers
    )

    assert balance.json()["student_id"] == user.pk
    assert balance.json()["minutes_available"] == minutes
    assert history.status_code == 200
    assert len(history.json()["results"]) == len(households[who][1]) * (who != "guardian")


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("who", WHO)
def test_each_purchase_status_is_visible_to_its_parties_only(households, who, how):
    user, visible, _ = households[who]
    every_purchase = set().union(*(ids for _, ids, _ in households.values()))
    client, headers = signed_in(user, how)

    answers = {
        purchase_id: client.get(
            f"/api/finances/purchase/{purchase_id}/status/", **headers
        ).status_code
        for purchase_id in every_purchase
    }

    assert {pk for pk, status in answers.items() if status == 200} == visible
    assert {status for pk, status in answers.items() if pk not in visible} == {404}


@pytest.mark.parametrize("how", HOW)
def test_staff_only_and_teacher_only_endpoints_refuse_a_signed_in_student(households, how):
    student = households["student"][0]
    client, headers = signed_in(student, how)
    csrf = {}
    if how == "session":
        client.get("/_allauth/browser/v1/config")  # sets the CSRF cookie
        csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    body = {"student_id": student.pk, "minutes": 60, "lesson_reference": "L-1"}

    for method, url, data in [
        ("get", "/api/accounts/teacher-assignments/", None),
        ("post", "/api/accounts/teacher-assignments/", {"teacher_id": 1, "student_id": 1}),
        ("post", "/api/finances/consumptions/", body),
        ("post", "/api/finances/consumptions/reversals/", body),
    ]:
        call = getattr(client, method)
        kwargs = {"content_type": "application/json"} if data is not None else {}
        response = call(url, data, **kwargs, **headers, **csrf)
        assert response.status_code == 403, (url, response.content)
        assert response.json()["error"]["code"] == "permission_denied"


def test_a_session_write_without_its_csrf_token_is_refused_before_anything_happens(households):
    student = households["student"][0]
    client, _ = signed_in(student, "session")

    response = client.post(
        "/api/finances/purchase/initiate/",
        {"plan_id": PricingPlanFactory().pk},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_a_headless_token_write_needs_no_csrf_token(households, settings):
    # Tokens are not sent by browsers on their own, so they cannot be forged cross-site.
    student = households["student"][0]
    client, headers = signed_in(student, "headless_token")

    response = client.post(
        "/api/finances/purchase/initiate/",
        {"plan_id": 999_999},
        content_type="application/json",
        **headers,
    )

    assert response.status_code == 400  # past authentication and CSRF: no such plan
    assert response.json()["error"]["fields"]["plan_id"]
