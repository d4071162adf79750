"""Links end (history stays, nothing granted); the guardian's rules decide when a student
must ask; the monthly cap counts what the guardian paid this calendar month (Lisbon)."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import IntegrityError, transaction

from accounts.models import GuardianStudentLink
from finances.models import PurchaseRequest, PurchaseTransaction
from finances.selectors.families import guardian_spending_this_month_cents, month_bounds
from finances.services.family_links import guardian_link_end
from finances.services.family_requests import purchase_request_create
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, UserFactory
from tests.support.families import client_as, family_create
from tests.support.payments import purchase_pay

pytestmark = pytest.mark.django_db

Mode = GuardianStudentLink.ApprovalMode
INITIATE = "/api/finances/purchase/initiate/"


def _buy_for_self(student, plan):
    return client_as(student).post(INITIATE, {"plan_id": plan.pk}, format="json")


@pytest.mark.parametrize("who", ["guardian", "student"])
def test_either_side_ends_a_link_which_stays_as_history(who):
    family = family_create()

    response = client_as(getattr(family, who)).post(
        f"/api/finances/family/links/{family.link.pk}/end/"
    )

    assert response.status_code == 200
    family.link.refresh_from_db()
    assert family.link.ended_at is not None
    assert family.link.ended_by == getattr(family, who)
    listed = client_as(family.guardian).get("/api/finances/family/links/").json()
    assert [(row["id"], row["is_active"]) for row in listed["results"]] == [(family.link.pk, False)]


def test_a_stranger_cannot_end_a_link():
    family = family_create()

    response = client_as(UserFactory()).post(f"/api/finances/family/links/{family.link.pk}/end/")

    assert response.status_code == 404
    family.link.refresh_from_db()
    assert family.link.ended_at is None


def test_ending_a_link_cancels_its_pending_requests_recording_who():
    family = family_create()
    request = purchase_request_create(student=family.student, plan_id=PricingPlanFactory().pk)

    guardian_link_end(link_id=family.link.pk, ended_by=family.student)

    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.CANCELLED
    assert request.events.last().actor == family.student


def test_an_ended_link_can_be_made_again_but_two_active_ones_cannot_exist():
    family = family_create()
    guardian_link_end(link_id=family.link.pk, ended_by=family.guardian)

    again = GuardianStudentLink.objects.create(guardian=family.guardian, student=family.student)
    with pytest.raises(IntegrityError), transaction.atomic():
        GuardianStudentLink.objects.create(guardian=family.guardian, student=family.student)

    assert again.is_active
    assert GuardianStudentLink.objects.filter(guardian=family.guardian).count() == 2


def test_an_ended_link_grants_nothing_the_guardian_no_longer_buys_for_or_sees_the_student():
    family = family_create()
    plan = PricingPlanFactory()
    guardian_link_end(link_id=family.link.pk, ended_by=family.student)
    guardian = client_as(family.guardian)

    bought = guardian.post(
        INITIATE,
        {"plan_id": plan.pk, "student_info": {"name": "Kid", "email": family.student.email}},
        format="json",
    )
    balance = guardian.get(f"/api/finances/students/{family.student.pk}/balance/")

    assert bought.status_code == 400
    assert balance.status_code == 404
    assert not PurchaseTransaction.objects.exists()


def test_an_ended_link_no_longer_makes_the_student_ask(localstripe):
    family = family_create(approval_mode=Mode.ALWAYS_ASK)
    guardian_link_end(link_id=family.link.pk, ended_by=family.guardian)

    assert _buy_for_self(family.student, PricingPlanFactory()).status_code == 201


@pytest.mark.parametrize(
    ("mode", "threshold", "price", "must_ask"),
    [
        (Mode.ALWAYS_ASK, None, 100, True),
        (Mode.ASK_ABOVE_AMOUNT, 5000, 5000, False),
        (Mode.ASK_ABOVE_AMOUNT, 5000, 5001, True),
        (Mode.NEVER_ASK, None, 99999, False),
    ],
    ids=["always-ask", "at-the-threshold", "above-the-threshold", "never-ask"],
)
def test_the_rules_decide_whether_a_students_own_purchase_needs_the_guardian(
    localstripe, mode, threshold, price, must_ask
):
    family = family_create(approval_mode=mode, approval_threshold_cents=threshold)
    plan = PricingPlanFactory(price_cents=price)

    response = _buy_for_self(family.student, plan)

    if must_ask:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "guardian_approval_required"
        assert "/api/finances/purchase-requests/" in response.json()["error"]["message"]
        assert not PurchaseTransaction.objects.exists()
    else:
        assert response.status_code == 201, response.content  # bought as today


def test_with_several_guardians_the_strictest_rule_applies():
    student = UserFactory()
    family_create(student=student, approval_mode=Mode.NEVER_ASK)
    family_create(student=student, approval_mode=Mode.ASK_ABOVE_AMOUNT, approval_threshold_cents=1)

    response = _buy_for_self(student, PricingPlanFactory(price_cents=500))

    assert response.status_code == 403


def test_a_guest_checkout_for_a_supervised_students_email_is_refused_too():
    family = family_create()

    response = client_as(None).post(
        INITIATE,
        {
            "plan_id": PricingPlanFactory().pk,
            "student_info": {"name": "Kid", "email": family.student.email},
        },
        format="json",
    )

    assert response.status_code == 403
    assert not PurchaseTransaction.objects.exists()


def test_only_the_guardian_sets_the_rules():
    family = family_create()
    url = f"/api/finances/family/links/{family.link.pk}/rules/"
    rules = {
        "approval_mode": "ASK_ABOVE_AMOUNT",
        "approval_threshold": "25.00",
        "monthly_cap": "200.00",
    }

    by_student = client_as(family.student).put(url, {"approval_mode": "NEVER_ASK"}, format="json")
    by_stranger = client_as(UserFactory()).put(url, {"approval_mode": "NEVER_ASK"}, format="json")
    by_guardian = client_as(family.guardian).put(url, rules, format="json")

    assert (by_student.status_code, by_stranger.status_code) == (403, 404)
    assert by_guardian.status_code == 200, by_guardian.content
    family.link.refresh_from_db()
    assert (family.link.approval_mode, family.link.approval_threshold_cents) == (
        Mode.ASK_ABOVE_AMOUNT,
        2500,
    )
    assert family.link.monthly_cap_cents == 20000
    assert family.link.rules_updated_by == family.guardian
    assert by_guardian.json()["monthly_cap"] == "200.00"


def test_asking_above_an_amount_needs_the_amount():
    family = family_create()

    response = client_as(family.guardian).put(
        f"/api/finances/family/links/{family.link.pk}/rules/",
        {"approval_mode": "ASK_ABOVE_AMOUNT"},
        format="json",
    )

    assert response.status_code == 400
    assert "approval_threshold" in response.json()["error"]["fields"]


def test_the_database_refuses_a_threshold_without_its_mode_and_a_zero_cap():
    family = family_create()

    for change in ({"approval_threshold_cents": 100}, {"monthly_cap_cents": 0}):
        with pytest.raises(IntegrityError), transaction.atomic():
            GuardianStudentLink.objects.filter(pk=family.link.pk).update(**change)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        # 31 July 23:30 UTC is already 1 August 00:30 in Lisbon (summer time, UTC+1).
        (datetime(2026, 7, 31, 23, 30, tzinfo=UTC), (2026, 7, 31, 23), (2026, 8, 31, 23)),
        # March: starts in winter time (UTC+0), ends in summer time (UTC+1).
        (datetime(2026, 3, 15, tzinfo=UTC), (2026, 3, 1, 0), (2026, 3, 31, 23)),
        # December: the next month is in the next year.
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), (2026, 12, 1, 0), (2027, 1, 1, 0)),
    ],
    ids=["summer-time", "clock-change", "december"],
)
def test_the_month_is_the_calendar_month_in_lisbon(now, start, end):
    assert month_bounds(now=now) == (
        datetime(*start, tzinfo=UTC),
        datetime(*end, tzinfo=UTC),
    )


def test_spending_counts_completed_purchases_paid_by_this_guardian_this_month():
    family = family_create()
    other_guardian = UserFactory()
    plan = PricingPlanFactory(price_cents=3000)

    def paid(paid_at, **fields):
        purchase = PurchaseTransactionFactory(plan=plan, student=family.student, **fields)
        with time_machine.travel(paid_at, tick=False):
            purchase_pay(purchase, paid_at_unix=int(paid_at.timestamp()))
        return purchase

    paid(datetime(2026, 3, 2, 10, tzinfo=UTC), purchased_by=family.guardian)
    paid(datetime(2026, 3, 20, 10, tzinfo=UTC), purchased_by=family.guardian)
    paid(datetime(2026, 2, 28, 10, tzinfo=UTC), purchased_by=family.guardian)  # last month
    paid(datetime(2026, 3, 3, 10, tzinfo=UTC), purchased_by=other_guardian)
    paid(datetime(2026, 3, 4, 10, tzinfo=UTC))  # the student's own
    PurchaseTransactionFactory(plan=plan, student=family.student, purchased_by=family.guardian)

    spent = guardian_spending_this_month_cents(
        guardian_id=family.guardian.pk,
        student_id=family.student.pk,
        now=datetime(2026, 3, 25, tzinfo=UTC),
    )

    assert spent == 6000
