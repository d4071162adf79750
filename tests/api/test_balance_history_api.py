"""GET /api/finances/balance/history/: the caller's hours ledger, newest first, with who
recorded each lesson (a name, nothing more)."""

import pytest
import time_machine

from finances.models import HoursLedgerEntry
from finances.services.consumption import lesson_consumption_record, lesson_consumption_reverse
from tests.factories import StaffUserFactory, TeacherStudentAssignmentFactory, UserFactory
from tests.support.operations_helpers import paid_package

pytestmark = pytest.mark.django_db

URL = "/api/finances/balance/history/"
EntryType = HoursLedgerEntry.EntryType


def test_a_student_sees_credits_lessons_and_reversals_newest_first_with_who_recorded_them(
    api_client,
):
    assignment = TeacherStudentAssignmentFactory(teacher__name="Rita Teacher")
    student, teacher = assignment.student, assignment.teacher
    staff = StaffUserFactory(name="Sam Staff")
    with time_machine.travel("2025-03-01 10:00Z", tick=False):
        package = paid_package(student, minutes=600)
    with time_machine.travel("2025-03-02 10:00Z", tick=False):
        lesson_consumption_record(
            actor=teacher, student_id=student.pk, minutes=90, lesson_reference="L-1"
        )
    with time_machine.travel("2025-03-03 10:00Z", tick=False):
        lesson_consumption_reverse(actor=staff, student_id=student.pk, lesson_reference="L-1")
    api_client.force_authenticate(student)

    response = api_client.get(URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    assert [
        (row["entry_type"], row["hours"], row["lesson_reference"], row["recorded_by"])
        for row in body["results"]
    ] == [
        (EntryType.DEBIT_REVERSAL, "1.50", "L-1", "Sam Staff"),
        (EntryType.DEBIT, "-1.50", "L-1", "Rita Teacher"),
        (EntryType.CREDIT, "10.00", "", None),
    ]
    assert {row["transaction_id"] for row in body["results"]} == {str(package.pk)}
    # A name only: never the recorder's email or id.
    assert teacher.email not in response.content.decode()
    assert staff.email not in response.content.decode()


def test_a_student_sees_only_their_own_ledger(api_client):
    mine, theirs = UserFactory(), UserFactory()
    paid_package(mine, minutes=60)
    paid_package(theirs, minutes=600)
    api_client.force_authenticate(mine)

    body = api_client.get(URL).json()

    assert [row["minutes"] for row in body["results"]] == [60]


def test_the_history_is_paginated(api_client):
    student = UserFactory()
    for _ in range(3):
        paid_package(student, minutes=60)
    api_client.force_authenticate(student)

    body = api_client.get(URL, {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


def test_anonymous_callers_are_asked_to_authenticate(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
