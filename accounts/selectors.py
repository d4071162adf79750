from django.db.models import QuerySet

from accounts.emails import email_normalize
from accounts.models import GuardianStudentLink, TeacherStudentAssignment, User


def guardian_link_get(*, guardian: User, student_email: str) -> GuardianStudentLink | None:
    return (
        GuardianStudentLink.objects.select_related("student")
        .filter(guardian=guardian, student__email=email_normalize(student_email))
        .first()
    )


def teacher_student_assignment_active_exists(*, teacher_id: int, student_id: int) -> bool:
    return TeacherStudentAssignment.objects.filter(
        teacher_id=teacher_id, student_id=student_id, ended_at__isnull=True
    ).exists()


def teacher_student_assignment_list(
    *, teacher_id: int | None = None, student_id: int | None = None, active: bool | None = None
) -> QuerySet[TeacherStudentAssignment]:
    queryset = TeacherStudentAssignment.objects.select_related("teacher", "student")
    if teacher_id is not None:
        queryset = queryset.filter(teacher_id=teacher_id)
    if student_id is not None:
        queryset = queryset.filter(student_id=student_id)
    if active is not None:
        queryset = queryset.filter(ended_at__isnull=active)
    return queryset.order_by("-created_at", "-id")


def guardian_link_list(*, guardian: User) -> QuerySet[GuardianStudentLink]:
    """The students this guardian may buy for and see, by name."""
    return (
        GuardianStudentLink.objects.select_related("student")
        .filter(guardian=guardian)
        .order_by("student__name", "student_id")
    )
