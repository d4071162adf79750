"""No one but the guardian asked turns a request into hours: a student never approves,
pays or declines their own request, whatever they send; another family's requests are
not there at all; nothing changes on a refusal."""

import pytest

from finances.models import PurchaseTransaction
from finances.services.family_links import guardian_link_end
from finances.services.family_requests import purchase_request_create
from tests.factories import PricingPlanFactory, StaffUserFactory, TeacherFactory, UserFactory
from tests.support.families import client_as, family_create, request_snapshot

pytestmark = pytest.mark.django_db

URL = "/api/finances/purchase-requests/"
HOSTILE_BODIES = [
    {},
    {"confirm_new_price": True},
    {"payer_id": 0, "guardian_id": 0, "approved": True, "status": "PAID"},
]


@pytest.fixture
def family():
    return family_create()


@pytest.fixture
def request_(family):
    return purchase_request_create(student=family.student, plan_id=PricingPlanFactory().pk)


@pytest.mark.parametrize("action", ["pay", "decline"])
@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=["empty", "confirm", "forged-fields"])
def test_a_student_cannot_pay_or_decline_their_own_request(family, request_, action, body):
    body = {**body, **({"guardian_id": family.guardian.pk} if "guardian_id" in body else {})}
    before = request_snapshot(request_)

    response = client_as(family.student).post(f"{URL}{request_.pk}/{action}/", body, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_the_guardian"
    assert request_snapshot(request_) == before
    assert not PurchaseTransaction.objects.exists()


@pytest.mark.parametrize("action", ["pay", "decline", "cancel"])
@pytest.mark.parametrize("outsider", ["other_student", "other_guardian", "second_guardian"])
def test_another_family_cannot_touch_or_see_the_request(family, request_, action, outsider):
    other = family_create()
    people = {
        "other_student": other.student,
        "other_guardian": other.guardian,
        # linked to the same student, but not the guardian who was asked
        "second_guardian": family_create(student=family.student).guardian,
    }
    client = client_as(people[outsider])
    before = request_snapshot(request_)

    acted = client.post(f"{URL}{request_.pk}/{action}/", {}, format="json")
    seen = client.get(f"{URL}{request_.pk}/")
    listed = client.get(URL).json()

    assert (acted.status_code, seen.status_code) == (404, 404)
    assert str(request_.pk) not in {row["id"] for row in listed["results"]}
    assert request_snapshot(request_) == before


def test_the_guardian_cannot_cancel_in_the_students_name(family, request_):
    before = request_snapshot(request_)

    response = client_as(family.guardian).post(f"{URL}{request_.pk}/cancel/")

    assert response.status_code == 403
    assert request_snapshot(request_) == before


def test_a_guardian_whose_link_ended_cannot_pay(family, request_):
    guardian_link_end(link_id=family.link.pk, ended_by=family.student)

    response = client_as(family.guardian).post(f"{URL}{request_.pk}/pay/", {}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "family_link_ended"
    assert not PurchaseTransaction.objects.exists()


def test_staff_see_a_request_but_do_not_pay_it(family, request_):
    staff = client_as(StaffUserFactory())

    assert staff.get(f"{URL}{request_.pk}/").status_code == 200
    assert staff.post(f"{URL}{request_.pk}/pay/", {}, format="json").status_code == 404


def test_anonymous_callers_are_refused(request_):
    for path in ("", f"{request_.pk}/", f"{request_.pk}/pay/", f"{request_.pk}/decline/"):
        assert client_as(None).post(f"{URL}{path}", {}, format="json").status_code == 401


@pytest.mark.parametrize(
    ("viewer", "status_code"),
    [
        ("student", 200),
        ("guardian", 200),
        ("staff", 200),
        ("other_guardian", 404),
        ("teacher", 404),
        ("second_family_student", 404),
    ],
)
def test_a_students_balance_is_for_the_student_their_guardians_and_staff(
    family, viewer, status_code
):
    other = family_create()
    people = {
        "student": family.student,
        "guardian": family.guardian,
        "staff": StaffUserFactory(),
        "other_guardian": other.guardian,
        "teacher": TeacherFactory(),
        "second_family_student": other.student,
    }

    response = client_as(people[viewer]).get(f"/api/finances/students/{family.student.pk}/balance/")

    assert response.status_code == status_code
    if status_code == 200:
        assert response.json()["student_id"] == family.student.pk


def test_a_guardian_of_two_children_sees_each_balance_apart():
    guardian = UserFactory()
    anna, ben = family_create(guardian=guardian), family_create(guardian=guardian)
    client = client_as(guardian)

    ids = [
        client.get(f"/api/finances/students/{child.student.pk}/balance/").json()["student_id"]
        for child in (anna, ben)
    ]

    assert ids == [anna.student.pk, ben.student.pk]


def test_an_unknown_student_is_a_404_even_for_staff():
    response = client_as(StaffUserFactory()).get("/api/finances/students/999999/balance/")

    assert response.status_code == 404
