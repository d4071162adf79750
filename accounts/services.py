from django.db import IntegrityError, transaction

from accounts.emails import email_normalize
from accounts.models import GuardianStudentLink, User


def user_create(
    *,
    email: str,
    name: str,
    password: str | None = None,
    is_guest: bool = False,
    is_teacher: bool = False,
    is_staff: bool = False,
) -> User:
    return User.objects.create_user(
        email, password, name=name, is_guest=is_guest, is_teacher=is_teacher, is_staff=is_staff
    )


def guest_user_get_or_create(*, email: str, name: str) -> User:
    """The user with this email, or a new guest one; safe under concurrent calls.

    An existing account is returned untouched (its name is not overwritten by whatever
    a guest checkout typed), so callers must not reveal which branch was taken.
    """
    email = email_normalize(email)
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return user_create(email=email, name=name, is_guest=True)
    except IntegrityError:
        return User.objects.get(email=email)


def guardian_link_create(
    *, guardian: User, student: User, relationship: str = GuardianStudentLink.Relationship.PARENT
) -> GuardianStudentLink:
    return GuardianStudentLink.objects.create(
        guardian=guardian, student=student, relationship=relationship
    )
