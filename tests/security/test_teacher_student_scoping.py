"""Teachers act only on their students (issue 9, finding 3).

A teacher token used to debit or reverse the lessons of any account, and the answers told
unknown ids (404) from existing ones (409). Now a teacher acts only for students assigned
to them (an active `TeacherStudentAssignment`), staff for anyone, every debit and reversal
names who recorded it, and every id a teacher may not act on gets one and the same 404.
"""

import pytest

from accounts.services import teacher_student_assignment_end
from core.errors import ApplicationError
from finances.models import HoursLedgerEntry
from finances.services.consumption import lesson_consumption_record
from tests.factories import (
    StaffUserFactory,
    TeacherFactory,
    TeacherStudentAssignmentFactory,
    UserFactory,
)
from tests.support.operations_helpers import balance_of, paid_package

pytestmark = pytest.mark.django_db

CONSUMPTIONS_URL = "/api/finances/consumptions/"
REVERSALS_URL = "/api/finances/consumptions/reversals/"
EntryType = HoursLedgerEntry.EntryType


@pytest.fixture
def teacher():
    return TeacherFactory()


@pytest.fixture
def student(teacher):
    student = UserFactory()
    TeacherStudentAssignmentFactory(teacher=teacher, student=student)
    paid_package(student, minutes=600)
    return student


def record(client, student_id: int, reference: str = "lesson-1", minutes: int = 60):
    body = {"student_id": student_id, "minutes": minutes, "lesson_reference": reference}
    return client.post(CONSUMPTIONS_URL, body, format="json")


def reverse(client, student_id: int, reference: str = "lesson-1"):
    body = {"student_id": student_id, "lesson_reference": reference}
    return client.post(REVERSALS_URL, body, format="json")


def as_user(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def refusal(response) -> tuple[int, dict]:
    return response.status_code, response.json()


def test_an_assigned_teacher_records_a_lesson_and_is_named_on_the_debit(
    api_client, teacher, student
):
    response = record(as_user(api_client, teacher), student.pk)

    assert response.status_code == 201, response.content
    debit = HoursLedgerEntry.objects.get(entry_type=EntryType.DEBIT)
    assert debit.recorded_by_id == teacher.pk
    assert balance_of(student).consumed_minutes == 60


def test_an_assigned_teacher_reverses_a_lesson_and_is_named_on_the_reversal(
    api_client, teacher, student
):
    client = as_user(api_client, teacher)
    record(client, student.pk)

    response = reverse(client, student.pk)

    assert response.status_code == 200, response.content
    reversal = HoursLedgerEntry.objects.get(entry_type=EntryType.DEBIT_REVERSAL)
    assert reversal.recorded_by_id == teacher.pk


def test_a_teacher_on_an_unassigned_student_gets_exactly_the_unknown_id_answer(
    api_client, teacher, student
):
    someone_elses = UserFactory()
    paid_package(someone_elses, minutes=600)
    TeacherStudentAssignmentFactory(student=someone_elses)  # another teacher's student
    client = as_user(api_client, teacher)
    unknown_id = someone_elses.pk + 10_000

    unassigned = record(client, someone_elses.pk)
    unknown = record(client, unknown_id)

    assert refusal(unassigned) == refusal(unknown)
    assert refusal(unknown) == (
        404,
        {
            "error": {
                "code": "student_not_found",
                "message": "No student whose lessons you may record has this id.",
            }
        },
    )
    assert refusal(reverse(client, someone_elses.pk)) == refusal(reverse(client, unknown_id))
    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).exists()


def test_a_teacher_cannot_tell_an_existing_lesson_of_an_unassigned_student_from_nothing(
    api_client, teacher, student
):
    # The enumeration of issue 9: existing ids answered 409 (not enough hours) where
    # unknown ids answered 404.
    broke = UserFactory()  # no hours at all: a 409 would reveal the account
    client = as_user(api_client, teacher)

    assert refusal(record(client, broke.pk)) == refusal(record(client, broke.pk + 10_000))


@pytest.mark.parametrize("target", ["another_teacher", "staff", "the_teacher_themself"])
def test_a_teacher_on_a_teacher_or_staff_account_gets_the_unknown_id_answer(
    api_client, teacher, student, target
):
    account = {
        "another_teacher": TeacherFactory,
        "staff": StaffUserFactory,
        "the_teacher_themself": lambda: teacher,
    }[target]()
    paid_package(account, minutes=600)
    client = as_user(api_client, teacher)

    response = record(client, account.pk)

    assert refusal(response) == refusal(record(client, account.pk + 10_000))
    assert response.status_code == 404
    assert balance_of(account).consumed_minutes == 0


def test_an_ended_assignment_no_longer_lets_the_teacher_record_or_reverse(
    api_client, teacher, student
):
    client = as_user(api_client, teacher)
    assert record(client, student.pk).status_code == 201
    assignment = student.teacher_assignments.get()
    teacher_student_assignment_end(assignment_id=assignment.pk, ended_by=StaffUserFactory())

    after_recording = record(client, student.pk, reference="lesson-2")
    after_reversing = reverse(client, student.pk)

    assert refusal(after_recording) == refusal(record(client, student.pk + 10_000))
    assert refusal(after_reversing)[0] == 404
    assert refusal(after_reversing)[1]["error"]["code"] == "student_not_found"
    assert balance_of(student).consumed_minutes == 60


@pytest.mark.parametrize("target", ["student", "teacher", "staff"])
def test_staff_record_and_reverse_for_anyone_and_are_named(api_client, target):
    account = {"student": UserFactory, "teacher": TeacherFactory, "staff": StaffUserFactory}[
        target
    ]()
    paid_package(account, minutes=600)
    staff = StaffUserFactory()
    client = as_user(api_client, staff)

    recorded = record(client, account.pk)
    reversed_ = reverse(client, account.pk)

    assert (recorded.status_code, reversed_.status_code) == (201, 200)
    assert set(
        HoursLedgerEntry.objects.filter(student=account)
        .exclude(entry_type=EntryType.CREDIT)
        .values_list("entry_type", "recorded_by_id")
    ) == {(EntryType.DEBIT, staff.pk), (EntryType.DEBIT_REVERSAL, staff.pk)}


def test_staff_on_an_unknown_id_get_the_same_404(api_client):
    response = record(as_user(api_client, StaffUserFactory()), 987_654_321)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "student_not_found"


def test_the_service_refuses_an_unassigned_teacher_whatever_view_calls_it(teacher, student):
    other = UserFactory()
    paid_package(other, minutes=600)

    with pytest.raises(ApplicationError) as raised:
        lesson_consumption_record(
            actor=teacher, student_id=other.pk, minutes=60, lesson_reference="direct"
        )

    assert (raised.value.status_code, raised.value.code) == (404, "student_not_found")


def test_the_service_refuses_an_actor_who_is_neither_staff_nor_teacher(student):
    with pytest.raises(ApplicationError) as raised:
        lesson_consumption_record(
            actor=student, student_id=student.pk, minutes=60, lesson_reference="self"
        )

    assert raised.value.status_code == 403
    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).exists()
