"""Who records lessons in the tests that are not about who may (staff may for anyone)."""

from accounts.models import User
from tests.factories import StaffUserFactory


def lesson_recorder() -> User:
    return StaffUserFactory()
