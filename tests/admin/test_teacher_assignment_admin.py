"""Staff manage teacher ↔ student assignments in the admin; the ledger list names who
recorded each lesson."""

import pytest
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse

from accounts.models import TeacherStudentAssignment
from finances.models import HoursLedgerEntry
from finances.services.consumption import lesson_consumption_record
from tests.factories import (
    StaffUserFactory,
    TeacherFactory,
    TeacherStudentAssignmentFactory,
    UserFactory,
)
from tests.support.operations_helpers import paid_package

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> StaffUserFactory:
    return StaffUserFactory()


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_staff_add_an_assignment_and_are_recorded_as_its_creator(staff_client, staff):
    teacher, student = TeacherFactory(), UserFactory()

    response = staff_client.post(
        reverse("admin:accounts_teacherstudentassignment_add"),
        {"teacher": teacher.pk, "student": student.pk},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assignment = TeacherStudentAssignment.objects.get()
    assert (assignment.teacher, assignment.student, assignment.created_by) == (
        teacher,
        student,
        staff,
    )


@pytest.mark.parametrize("problem", ["not_a_teacher", "staff_student", "duplicate", "self"])
def test_the_admin_refuses_assignments_that_break_the_rules(staff_client, problem):
    teacher, student = TeacherFactory(), UserFactory()
    if problem == "not_a_teacher":
        teacher = UserFactory()
    elif problem == "staff_student":
        student = StaffUserFactory()
    elif problem == "duplicate":
        TeacherStudentAssignmentFactory(teacher=teacher, student=student)
    else:
        student = teacher
    existing = TeacherStudentAssignment.objects.count()

    response = staff_client.post(
        reverse("admin:accounts_teacherstudentassignment_add"),
        {"teacher": teacher.pk, "student": student.pk},
    )

    assert response.status_code == 200  # the form again, with its errors
    assert "errornote" in response.content.decode()
    assert TeacherStudentAssignment.objects.count() == existing


def test_the_end_action_ends_assignments_and_records_who(staff_client, staff):
    active, other = TeacherStudentAssignmentFactory(), TeacherStudentAssignmentFactory()

    response = staff_client.post(
        reverse("admin:accounts_teacherstudentassignment_changelist"),
        {"action": "end_assignments", "_selected_action": [active.pk]},
    )

    assert response.status_code == 302
    active.refresh_from_db()
    other.refresh_from_db()
    assert active.ended_at is not None
    assert active.ended_by == staff
    assert other.ended_at is None


def test_the_ledger_list_names_who_recorded_each_lesson(staff_client):
    assignment = TeacherStudentAssignmentFactory(teacher__email="rita.teacher@example.com")
    paid_package(assignment.student, minutes=600)
    lesson_consumption_record(
        actor=assignment.teacher,
        student_id=assignment.student_id,
        minutes=60,
        lesson_reference="L-1",
    )

    page = staff_client.get(reverse("admin:finances_hoursledgerentry_changelist"))

    assert page.status_code == 200
    assert "rita.teacher@example.com" in page.content.decode()


def test_who_recorded_a_lesson_cannot_be_rewritten_in_the_database():
    assignment = TeacherStudentAssignmentFactory()
    paid_package(assignment.student, minutes=600)
    lesson_consumption_record(
        actor=assignment.teacher,
        student_id=assignment.student_id,
        minutes=60,
        lesson_reference="L-1",
    )
    debits = HoursLedgerEntry.objects.filter(entry_type=HoursLedgerEntry.EntryType.DEBIT)

    with pytest.raises(DatabaseError), transaction.atomic():
        debits.update(recorded_by=StaffUserFactory())

    assert debits.get().recorded_by_id == assignment.teacher_id
