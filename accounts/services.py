from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.emails import email_normalize
from accounts.models import GuardianStudentLink, TeacherStudentAssignment, User
from core.errors import ConflictError, NotFoundError, field_invalid


def user_create(
    *,
    email: str,
    name: str,
    password: str | None = None,
    is_guest: bool = False,
    is_teacher: bool = False,
    is_staff: bool = False,
    language: str = "",
) -> User:
    return User.objects.create_user(
        email,
        password,
        name=name,
        is_guest=is_guest,
        is_teacher=is_teacher,
        is_staff=is_staff,
        language=language,
    )


def guest_user_get_or_create(*, email: str, name: str, language: str = "") -> User:
    """The user with this email, or a new guest one; safe under concurrent calls.

    An existing account is returned untouched (its name and language are not overwritten
    by whatever a guest checkout sent), so callers must not reveal which branch was taken.
    """
    email = email_normalize(email)
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return user_create(email=email, name=name, is_guest=True, language=language)
    except IntegrityError:
        return User.objects.get(email=email)


def guardian_link_create(
    *, guardian: User, student: User, relationship: str = GuardianStudentLink.Relationship.PARENT
) -> GuardianStudentLink:
    return GuardianStudentLink.objects.create(
        guardian=guardian, student=student, relationship=relationship
    )


def teacher_student_assignment_create(
    *, teacher_id: int, student_id: int, created_by: User | None
) -> TeacherStudentAssignment:
    """Lets a teacher record the lessons of a student (staff only, checked by the caller's
    view or admin). A staff account is never a student: staff record for anyone already."""
    teacher = User.objects.filter(pk=teacher_id).first()
    if teacher is None or not teacher.is_teacher or not teacher.is_active:
        raise field_invalid("teacher_id", "No active teacher has this id.")
    student = User.objects.filter(pk=student_id).first()
    if student is None or student.is_staff:
        raise field_invalid("student_id", "No student has this id.")
    if student.pk == teacher.pk:
        raise field_invalid("student_id", "A teacher is not their own student.")
    try:
        with transaction.atomic():
            return TeacherStudentAssignment.objects.create(
                teacher=teacher, student=student, created_by=created_by
            )
    except IntegrityError as error:
        raise ConflictError(
            "This teacher is already assigned to this student.", code="assignment_exists"
        ) from error


def teacher_student_assignment_end(
    *, assignment_id: int, ended_by: User | None, now: datetime | None = None
) -> TeacherStudentAssignment:
    """Ends an assignment from now on (idempotent: an ended one keeps its first end)."""
    now = now or timezone.now()
    TeacherStudentAssignment.objects.filter(pk=assignment_id, ended_at__isnull=True).update(
        ended_at=now, ended_by=ended_by
    )
    assignment = (
        TeacherStudentAssignment.objects.select_related("teacher", "student")
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None:
        raise NotFoundError("No teacher assignment has this id.")
    return assignment


def user_language_set(*, user: User, language: str) -> None:
    """The language of the user's emails, from a request they made themselves."""
    if language and user.language != language:
        User.objects.filter(pk=user.pk).update(language=language)
        user.language = language
