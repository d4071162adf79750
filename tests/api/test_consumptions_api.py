"""POST /api/finances/consumptions/ and /consumptions/reversals/: staff and teachers only."""

import pytest

from finances.models import HoursLedgerEntry
from tests.factories import StaffUserFactory, TeacherStudentAssignmentFactory, UserFactory
from tests.support.operations_helpers import (
    assert_ledger_clean,
    balance_of,
    paid_package,
    unused_minutes,
)

pytestmark = pytest.mark.django_db

CONSUMPTIONS_URL = "/api/finances/consumptions/"
REVERSALS_URL = "/api/finances/consumptions/reversals/"
EntryType = HoursLedgerEntry.EntryType


def _assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["error"], body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def student():
    return UserFactory()


@pytest.fixture
def package(student):
    return paid_package(student, minutes=600, price_cents=14000)


@pytest.fixture(params=["staff", "teacher"])
def recorder(request, api_client, student):
    """Staff, or a teacher the student is assigned to."""
    if request.param == "staff":
        user = StaffUserFactory()
    else:
        user = TeacherStudentAssignmentFactory(student=student).teacher
    api_client.force_authenticate(user)
    return api_client


def _lesson(student, minutes: int = 90, reference: str = "lesson-42") -> dict:
    return {"student_id": student.pk, "minutes": minutes, "lesson_reference": reference}


def test_staff_and_teachers_record_a_lesson_and_get_201_with_its_debits(recorder, student, package):
    response = recorder.post(CONSUMPTIONS_URL, _lesson(student), format="json")

    assert response.status_code == 201, response.content
    assert response.json() == {
        "student_id": student.pk,
        "lesson_reference": "lesson-42",
        "hours": "1.50",
        "minutes": 90,
        "entries": [{"transaction_id": str(package.pk), "hours": "-1.50", "minutes": -90}],
        "created": True,
    }
    assert unused_minutes(package) == 510
    assert balance_of(student).consumed_minutes == 90
    assert_ledger_clean()


def test_recording_the_same_lesson_again_answers_200_with_the_first_record(
    recorder, student, package
):
    first = recorder.post(CONSUMPTIONS_URL, _lesson(student), format="json")

    again = recorder.post(CONSUMPTIONS_URL, _lesson(student), format="json")

    assert again.status_code == 200, again.content
    assert again.json() == {**first.json(), "created": False}
    assert HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).count() == 1
    assert balance_of(student).consumed_minutes == 90


def test_the_same_reference_with_other_minutes_answers_409_conflict(recorder, student, package):
    recorder.post(CONSUMPTIONS_URL, _lesson(student, minutes=90), format="json")

    response = recorder.post(CONSUMPTIONS_URL, _lesson(student, minutes=60), format="json")

    _assert_envelope(response, 409, "lesson_reference_conflict")
    assert balance_of(student).consumed_minutes == 90


def test_a_student_may_not_record_lessons(api_client, student, package):
    api_client.force_authenticate(student)

    response = api_client.post(CONSUMPTIONS_URL, _lesson(student), format="json")

    error = _assert_envelope(response, 403, "permission_denied")
    assert error["message"] == "Only staff and teachers may do this."
    assert unused_minutes(package) == 600


def test_an_anonymous_caller_may_not_record_lessons(api_client, student, package):
    response = api_client.post(CONSUMPTIONS_URL, _lesson(student), format="json")

    _assert_envelope(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert unused_minutes(package) == 600


def test_an_anonymous_caller_may_not_reverse_lessons(api_client, student, package):
    response = api_client.post(
        REVERSALS_URL, {"student_id": student.pk, "lesson_reference": "x"}, format="json"
    )

    _assert_envelope(response, 401, "not_authenticated")


def test_a_student_may_not_reverse_lessons(api_client, student, package, recorder):
    recorder.post(CONSUMPTIONS_URL, _lesson(student), format="json")
    api_client.force_authenticate(student)

    response = api_client.post(
        REVERSALS_URL, {"student_id": student.pk, "lesson_reference": "lesson-42"}, format="json"
    )

    _assert_envelope(response, 403, "permission_denied")
    assert balance_of(student).consumed_minutes == 90


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"minutes": 0}, "minutes"),
        ({"minutes": 24 * 60 + 1}, "minutes"),
        ({"minutes": "ninety"}, "minutes"),
        ({"lesson_reference": ""}, "lesson_reference"),
        ({"lesson_reference": "L" * 101}, "lesson_reference"),
        ({"student_id": 0}, "student_id"),
    ],
)
def test_invalid_fields_answer_400_with_the_field(recorder, student, package, changes, field):
    response = recorder.post(CONSUMPTIONS_URL, {**_lesson(student), **changes}, format="json")

    error = _assert_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == [field]
    assert unused_minutes(package) == 600


@pytest.mark.parametrize("missing", ["student_id", "minutes", "lesson_reference"])
def test_a_missing_field_answers_400_with_the_field(recorder, student, package, missing):
    body = _lesson(student)
    del body[missing]

    response = recorder.post(CONSUMPTIONS_URL, body, format="json")

    error = _assert_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == [missing]


def test_an_unknown_student_answers_404(recorder, student, package):
    response = recorder.post(
        CONSUMPTIONS_URL, {**_lesson(student), "student_id": student.pk + 1000}, format="json"
    )

    _assert_envelope(response, 404, "student_not_found")
    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).exists()


def test_not_enough_hours_answers_409_insufficient_hours(recorder, student, package):
    response = recorder.post(CONSUMPTIONS_URL, _lesson(student, minutes=601), format="json")

    error = _assert_envelope(response, 409, "insufficient_hours")
    assert "10.02 h" in error["message"]
    assert "10.00 h" in error["message"]
    assert unused_minutes(package) == 600
    assert not HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT).exists()


def test_a_reversal_gives_the_hours_back_and_a_second_one_changes_nothing(
    recorder, student, package
):
    recorder.post(CONSUMPTIONS_URL, _lesson(student), format="json")
    reversal = {"student_id": student.pk, "lesson_reference": "lesson-42"}

    first = recorder.post(REVERSALS_URL, reversal, format="json")
    second = recorder.post(REVERSALS_URL, reversal, format="json")

    assert first.status_code == 200, first.content
    assert first.json() == {
        "student_id": student.pk,
        "lesson_reference": "lesson-42",
        "hours": "1.50",
        "minutes": 90,
        "entries": [{"transaction_id": str(package.pk), "hours": "1.50", "minutes": 90}],
        "created": True,
    }
    assert second.status_code == 200
    assert second.json() == {**first.json(), "created": False}
    assert HoursLedgerEntry.objects.filter(entry_type=EntryType.DEBIT_REVERSAL).count() == 1
    assert unused_minutes(package) == 600
    assert balance_of(student).consumed_minutes == 0
    assert_ledger_clean()


def test_reversing_an_unknown_lesson_answers_404(recorder, student, package):
    response = recorder.post(
        REVERSALS_URL, {"student_id": student.pk, "lesson_reference": "never"}, format="json"
    )

    _assert_envelope(response, 404, "not_found")


def test_reversing_for_an_unknown_student_answers_404(recorder, student, package):
    response = recorder.post(
        REVERSALS_URL, {"student_id": student.pk + 1000, "lesson_reference": "x"}, format="json"
    )

    _assert_envelope(response, 404, "student_not_found")


def test_a_reversal_without_a_reference_answers_400(recorder, student, package):
    response = recorder.post(REVERSALS_URL, {"student_id": student.pk}, format="json")

    error = _assert_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == ["lesson_reference"]
