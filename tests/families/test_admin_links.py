"""Staff link a guardian and a student in the admin, and end links there."""

import pytest
from django.test import Client

from accounts.models import GuardianStudentLink
from finances.models import PurchaseRequest
from finances.services.family_requests import purchase_request_create
from tests.factories import PricingPlanFactory, StaffUserFactory, UserFactory
from tests.support.families import family_create

pytestmark = pytest.mark.django_db

ADMIN = "/admin/accounts/guardianstudentlink/"


@pytest.fixture
def staff():
    user = StaffUserFactory()
    client = Client()
    client.force_login(user)
    return user, client


def test_staff_link_a_guardian_and_a_student(staff):
    _, client = staff
    guardian, student = UserFactory(), UserFactory()

    response = client.post(
        f"{ADMIN}add/", {"guardian": guardian.pk, "student": student.pk, "relationship": "PARENT"}
    )

    assert response.status_code == 302
    assert GuardianStudentLink.objects.get().student == student


def test_a_second_active_link_is_a_form_error_not_a_crash(staff):
    _, client = staff
    family = family_create()

    response = client.post(
        f"{ADMIN}add/",
        {"guardian": family.guardian.pk, "student": family.student.pk, "relationship": "PARENT"},
    )

    assert response.status_code == 200
    assert "already linked" in response.content.decode()
    assert GuardianStudentLink.objects.count() == 1


def test_staff_end_links_and_their_pending_requests_are_cancelled(staff):
    user, client = staff
    family = family_create()
    request = purchase_request_create(student=family.student, plan_id=PricingPlanFactory().pk)

    response = client.post(
        ADMIN, {"action": "end_links", "_selected_action": [family.link.pk]}, follow=True
    )

    assert response.status_code == 200
    family.link.refresh_from_db()
    request.refresh_from_db()
    assert (family.link.ended_by, request.status) == (user, PurchaseRequest.Status.CANCELLED)
