"""GET/POST /api/accounts/teacher-assignments/ and POST …/<id>/end/: staff only."""

import pytest

from accounts.models import TeacherStudentAssignment
from tests.factories import (
    StaffUserFactory,
    TeacherFactory,
    TeacherStudentAssignmentFactory,
    UserFactory,
)
from tests.support.webhook_pipeline_helpers import assert_error_envelope

pytestmark = pytest.mark.django_db

URL = "/api/accounts/teacher-assignments/"


def end_url(assignment_id) -> str:
    return f"{URL}{assignment_id}/end/"


@pytest.fixture
def staff(api_client):
    user = StaffUserFactory()
    api_client.force_authenticate(user)
    return user


def test_staff_assign_a_student_to_a_teacher(api_client, staff):
    teacher, student = TeacherFactory(), UserFactory()

    response = api_client.post(
        URL, {"teacher_id": teacher.pk, "student_id": student.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["teacher"] == {"id": teacher.pk, "name": teacher.name, "email": teacher.email}
    assert body["student"]["id"] == student.pk
    assert body["is_active"] is True
    assert body["created_by_id"] == staff.pk
    assert body["ended_at"] is None
    assignment = TeacherStudentAssignment.objects.get()
    assert (assignment.teacher, assignment.student, assignment.created_by) == (
        teacher,
        student,
        staff,
    )


def test_assigning_the_same_pair_twice_is_a_409(api_client, staff):
    assignment = TeacherStudentAssignmentFactory()
    body = {"teacher_id": assignment.teacher_id, "student_id": assignment.student_id}

    response = api_client.post(URL, body, format="json")

    assert_error_envelope(response, 409, "assignment_exists")
    assert TeacherStudentAssignment.objects.count() == 1


def test_an_ended_pair_can_be_assigned_again(api_client, staff):
    assignment = TeacherStudentAssignmentFactory()
    api_client.post(end_url(assignment.pk))

    response = api_client.post(
        URL,
        {"teacher_id": assignment.teacher_id, "student_id": assignment.student_id},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert TeacherStudentAssignment.objects.filter(ended_at__isnull=True).count() == 1


@pytest.mark.parametrize(
    ("teacher_kind", "student_kind", "field"),
    [
        ("student", "student", "teacher_id"),  # not a teacher
        ("unknown", "student", "teacher_id"),
        ("teacher", "unknown", "student_id"),
        ("teacher", "staff", "student_id"),  # staff record for anyone already
        ("teacher", "same", "student_id"),
    ],
)
def test_invalid_assignments_answer_400_with_the_field(
    api_client, staff, teacher_kind, student_kind, field
):
    teacher = {"student": UserFactory, "teacher": TeacherFactory}.get(teacher_kind)
    teacher_id = teacher().pk if teacher else 10**9
    student_id = {
        "student": lambda: UserFactory().pk,
        "unknown": lambda: 10**9 + 1,
        "staff": lambda: StaffUserFactory().pk,
        "same": lambda: teacher_id,
    }[student_kind]()

    response = api_client.post(
        URL, {"teacher_id": teacher_id, "student_id": student_id}, format="json"
    )

    error = assert_error_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == [field]
    assert not TeacherStudentAssignment.objects.exists()


def test_staff_list_assignments_filtered_by_teacher_and_state(api_client, staff):
    mine = TeacherStudentAssignmentFactory()
    ended = TeacherStudentAssignmentFactory(teacher=mine.teacher)
    api_client.post(end_url(ended.pk))
    TeacherStudentAssignmentFactory()  # another teacher's

    everything = api_client.get(URL).json()
    active_of_teacher = api_client.get(URL, {"teacher_id": mine.teacher_id, "active": "true"})

    assert everything["count"] == 3
    assert [row["id"] for row in active_of_teacher.json()["results"]] == [mine.pk]


def test_ending_an_assignment_records_who_and_when_and_is_idempotent(api_client, staff):
    assignment = TeacherStudentAssignmentFactory()

    first = api_client.post(end_url(assignment.pk))
    again = api_client.post(end_url(assignment.pk))

    assert first.status_code == again.status_code == 200
    assert first.json()["is_active"] is False
    assert first.json()["ended_by_id"] == staff.pk
    assert again.json()["ended_at"] == first.json()["ended_at"]


def test_ending_an_unknown_assignment_is_a_404(api_client, staff):
    assert_error_envelope(api_client.post(end_url(10**9)), 404, "not_found")


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_teachers_and_students_may_not_list_create_or_end_assignments(api_client, who):
    user = TeacherFactory() if who == "teacher" else UserFactory()
    assignment = TeacherStudentAssignmentFactory()
    api_client.force_authenticate(user)

    listed = api_client.get(URL)
    created = api_client.post(
        URL, {"teacher_id": user.pk, "student_id": UserFactory().pk}, format="json"
    )
    ended = api_client.post(end_url(assignment.pk))

    for response in (listed, created, ended):
        assert_error_envelope(response, 403, "permission_denied")
    assert TeacherStudentAssignment.objects.filter(ended_at__isnull=True).count() == 1


def test_anonymous_callers_are_asked_to_authenticate(api_client):
    assert_error_envelope(api_client.get(URL), 401, "not_authenticated")
