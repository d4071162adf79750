"""A student asks: the request freezes what was asked, tells the guardian, expires, can be
cancelled by the student or declined by the guardian; every change records who."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from finances.models import PurchaseRequest
from finances.services.family_requests import purchase_requests_expire
from notifications.models import Notification
from notifications.services import notification_message
from tests.factories import PricingPlanFactory, SubscriptionPlanFactory, UserFactory
from tests.support.families import client_as, family_create

pytestmark = pytest.mark.django_db

Status = PurchaseRequest.Status
URL = "/api/finances/purchase-requests/"


def _ask(student, plan, **extra):
    return client_as(student).post(URL, {"plan_id": plan.pk, **extra}, format="json")


def test_a_request_freezes_the_plan_hours_price_and_currency_and_tells_the_guardian(settings):
    settings.PUBLIC_BASE_URL = "https://school.example"
    family = family_create()
    plan = PricingPlanFactory(name="Ten hours", minutes=600, price_cents=14000, currency="EUR")

    response = _ask(family.student, plan, message="For the maths exam")
    plan.price_cents, plan.minutes = 99900, 60
    plan.save()

    assert response.status_code == 201, response.content
    body = response.json()
    request = PurchaseRequest.objects.get(pk=body["id"])
    assert (request.amount_cents, request.minutes, request.currency) == (14000, 600, "EUR")
    assert (body["amount"], body["hours"], body["status"]) == ("140.00", "10.00", "PENDING")
    assert request.guardian == family.guardian
    assert [(event["kind"], event["actor_id"]) for event in body["events"]] == [
        ("CREATED", family.student.pk)
    ]
    email = notification_message(notification=Notification.objects.get())
    assert email.to == [family.guardian.email]
    assert f"https://school.example/family/requests/{request.pk}/" in email.body
    assert "For the maths exam" in email.body


def test_a_request_is_refused_up_front_when_it_would_exceed_the_monthly_cap():
    family = family_create(monthly_cap_cents=10000)

    response = _ask(family.student, PricingPlanFactory(price_cents=10001))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "monthly_cap_exceeded"
    assert not PurchaseRequest.objects.exists()
    assert not Notification.objects.exists()


def test_a_monthly_plan_is_not_asked_for_the_guardian_subscribes_instead():
    family = family_create()

    response = _ask(family.student, SubscriptionPlanFactory())

    assert response.status_code == 400
    assert "/api/finances/subscriptions/" in response.json()["error"]["message"]
    assert not PurchaseRequest.objects.exists()
    assert not Notification.objects.exists()


def test_a_request_within_the_cap_is_made():
    family = family_create(monthly_cap_cents=10000)

    assert _ask(family.student, PricingPlanFactory(price_cents=10000)).status_code == 201


def test_a_student_without_a_guardian_is_told_to_invite_one():
    response = _ask(UserFactory(), PricingPlanFactory())

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_guardian_linked"


def test_a_student_with_several_guardians_chooses_whom_to_ask():
    student = UserFactory()
    mum, dad = family_create(student=student), family_create(student=student)
    plan = PricingPlanFactory()

    unnamed = _ask(student, plan)
    named = _ask(student, plan, guardian_id=dad.guardian.pk)
    stranger = _ask(student, plan, guardian_id=UserFactory().pk)

    assert unnamed.status_code == 400
    assert "guardian_id" in unnamed.json()["error"]["fields"]
    assert named.status_code == 201
    assert PurchaseRequest.objects.get().guardian == dad.guardian != mum.guardian
    assert stranger.status_code == 400


def test_asking_twice_for_the_same_plan_is_one_request():
    family = family_create()
    plan = PricingPlanFactory()
    _ask(family.student, plan)

    again = _ask(family.student, plan)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "purchase_request_exists"
    assert PurchaseRequest.objects.count() == 1


def test_a_request_expires_after_24_hours_through_the_schedule():
    family = family_create()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        request_id = _ask(family.student, PricingPlanFactory()).json()["id"]

    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        purchase_requests_expire()
        before = PurchaseRequest.objects.get(pk=request_id).status
    with time_machine.travel(start + timedelta(hours=24), tick=False):
        summary = purchase_requests_expire()

    request = PurchaseRequest.objects.get(pk=request_id)
    assert (before, request.status) == (Status.PENDING, Status.EXPIRED)
    assert summary == "1 purchase requests expired."
    expired = request.events.get(kind="EXPIRED")
    assert (expired.actor, expired.from_status) == (None, Status.PENDING)


def test_an_overdue_request_is_expired_lazily_when_someone_acts_on_it():
    family = family_create()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        request_id = _ask(family.student, PricingPlanFactory()).json()["id"]

    with time_machine.travel(start + timedelta(hours=25), tick=False):
        response = client_as(family.guardian).post(f"{URL}{request_id}/decline/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "purchase_request_expired"
    assert PurchaseRequest.objects.get(pk=request_id).status == Status.EXPIRED
    told = Notification.objects.filter(kind="purchase_request_expired")
    assert list(told.values_list("recipient_email", flat=True)) == [family.student.email]


def test_an_expired_request_does_not_stop_asking_again():
    family = family_create()
    plan = PricingPlanFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _ask(family.student, plan)

    with time_machine.travel(start + timedelta(hours=25), tick=False):
        again = _ask(family.student, plan)

    assert again.status_code == 201
    assert sorted(PurchaseRequest.objects.values_list("status", flat=True)) == [
        Status.EXPIRED,
        Status.PENDING,
    ]


def test_the_guardian_declines_with_a_message_and_the_student_is_told():
    family = family_create()
    request_id = _ask(family.student, PricingPlanFactory()).json()["id"]

    response = client_as(family.guardian).post(
        f"{URL}{request_id}/decline/", {"message": "Not this month"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["decline_message"]) == (
        "DECLINED",
        "Not this month",
    )
    declined = Notification.objects.get(kind="purchase_request_declined")
    assert declined.recipient_email == family.student.email
    assert "Not this month" in notification_message(notification=declined).body
    event = PurchaseRequest.objects.get(pk=request_id).events.get(kind="DECLINED")
    assert event.actor == family.guardian


def test_the_student_cancels_their_own_request():
    family = family_create()
    request_id = _ask(family.student, PricingPlanFactory()).json()["id"]

    response = client_as(family.student).post(f"{URL}{request_id}/cancel/")
    again = client_as(family.student).post(f"{URL}{request_id}/cancel/")

    assert response.json()["status"] == "CANCELLED"
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "purchase_request_closed"
    assert PurchaseRequest.objects.get(pk=request_id).events.last().actor == family.student


def test_a_guardian_of_two_children_sees_each_childs_requests_apart():
    guardian = UserFactory()
    anna, ben = family_create(guardian=guardian), family_create(guardian=guardian)
    _ask(anna.student, PricingPlanFactory())
    _ask(ben.student, PricingPlanFactory())
    _ask(ben.student, PricingPlanFactory())

    everything = client_as(guardian).get(URL).json()
    annas = client_as(guardian).get(URL, {"student_id": anna.student.pk}).json()
    bens_own = client_as(ben.student).get(URL).json()

    assert everything["count"] == 3
    assert [row["student"]["id"] for row in annas["results"]] == [anna.student.pk]
    assert {row["student"]["id"] for row in bens_own["results"]} == {ben.student.pk}
    assert bens_own["count"] == 2
