from accounts.emails import email_normalize
from accounts.models import GuardianStudentLink, User


def guardian_link_get(*, guardian: User, student_email: str) -> GuardianStudentLink | None:
    return (
        GuardianStudentLink.objects.select_related("student")
        .filter(guardian=guardian, student__email=email_normalize(student_email))
        .first()
    )
