from django.db.models import Q, QuerySet

from accounts.emails import email_normalize
from accounts.models import GuardianStudentLink, TeacherStudentAssignment, User


def guardian_link_get(*, guardian: User, student_email: str) -> GuardianStudentLink | None:
    """The guardian's active link to the student with this email (an ended one grants
    nothing)."""
    return (
        GuardianStudentLink.objects.select_related("student")
        .filter(
            guardian=guardian,
            student__email=email_normalize(student_email),
            ended_at__isnull=True,
        )
        .first()
    )


def guardian_link_active_get(*, guardian_id: int, student_id: int) -> GuardianStudentLink | None:
    return GuardianStudentLink.objects.filter(
        guardian_id=guardian_id, student_id=student_id, ended_at__isnull=True
    ).first()


def guardian_links_active_for_student(*, student_id: int) -> list[GuardianStudentLink]:
    return list(
        GuardianStudentLink.objects.select_related("guardian")
        .filter(student_id=student_id, ended_at__isnull=True)
        .order_by("created_at", "pk")
    )


def guardian_links_for_user(*, user_id: int, active: bool | None = None) -> QuerySet:
    """Links where the user is the guardian or the student, newest first."""
    queryset = GuardianStudentLink.objects.select_related("guardian", "student").filter(
        Q(guardian_id=user_id) | Q(student_id=user_id)
    )
    if active is not None:
        queryset = queryset.filter(ended_at__isnull=active)
    return queryset.order_by("-created_at", "-pk")


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
