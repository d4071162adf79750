import threading

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import GuardianStudentLink, User
from accounts.services import guardian_link_create, guest_user_get_or_create, user_create
from finances.models import StudentAccountBalance
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_user_create_stores_a_normalized_email_and_a_usable_password():
    user = user_create(email="Ana@Example.com", name="Ana Silva", password="a-long-password-1")

    user.refresh_from_db()
    assert user.email == "ana@example.com"
    assert user.check_password("a-long-password-1")
    assert not user.is_guest


def test_a_guest_is_created_with_an_unusable_password():
    guest = guest_user_get_or_create(email=" Ana@Example.COM ", name="Ana Silva")

    guest.refresh_from_db()
    assert guest.email == "ana@example.com"
    assert guest.name == "Ana Silva"
    assert guest.is_guest
    assert not guest.is_staff
    assert not guest.has_usable_password()
    assert not guest.check_password("")


def test_an_existing_account_is_returned_untouched():
    existing = UserFactory(email="ana@example.com", name="Ana Original")
    before = User.objects.filter(pk=existing.pk).values().get()

    returned = guest_user_get_or_create(email="ANA@example.com", name="Somebody Else")

    assert returned.pk == existing.pk
    assert User.objects.filter(pk=existing.pk).values().get() == before
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)
    assert not existing.is_guest
    assert User.objects.count() == 1


def test_a_second_guest_checkout_with_the_same_email_reuses_the_guest():
    first = guest_user_get_or_create(email="ana@example.com", name="Ana")

    second = guest_user_get_or_create(email="Ana@Example.com", name="Ana Maria")

    assert second.pk == first.pk
    second.refresh_from_db()
    assert second.name == "Ana"
    assert User.objects.count() == 1


def test_a_new_user_gets_an_empty_account_balance():
    user = user_create(email="ana@example.com", name="Ana")

    balance = StudentAccountBalance.objects.get(student=user)
    assert (balance.purchased_minutes, balance.remaining_minutes, balance.paid_cents) == (0, 0, 0)


def test_a_new_guest_gets_an_account_balance_too():
    guest = guest_user_get_or_create(email="ana@example.com", name="Ana")

    assert StudentAccountBalance.objects.filter(student=guest).exists()


def test_the_database_refuses_an_email_that_is_not_lower_case():
    user = User(email="Ana@Example.com", name="Ana")  # bypasses the manager's normalization

    with pytest.raises(IntegrityError), transaction.atomic():
        user.save()

    assert not User.objects.exists()


def test_the_database_refuses_a_guest_who_is_staff():
    with pytest.raises(IntegrityError), transaction.atomic():
        user_create(email="ana@example.com", name="Ana", is_guest=True, is_staff=True)

    assert not User.objects.exists()


def test_the_database_refuses_two_accounts_with_one_email():
    UserFactory(email="ana@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User(email="ana@example.com", name="Other").save()


def test_a_guardian_link_is_created_once_per_pair():
    guardian, student = UserFactory(), UserFactory()

    link = guardian_link_create(guardian=guardian, student=student)

    assert link.relationship == GuardianStudentLink.Relationship.PARENT
    with pytest.raises(IntegrityError), transaction.atomic():
        guardian_link_create(guardian=guardian, student=student)


def test_the_database_refuses_a_guardian_of_themselves():
    user = UserFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        guardian_link_create(guardian=user, student=user)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_guest_checkouts_with_one_email_create_one_user():
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    user_ids: list[int] = []
    errors: list[BaseException] = []

    def checkout(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            user = guest_user_get_or_create(email="ana@example.com", name=f"Ana {chr(65 + index)}")
            user_ids.append(user.pk)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(user_ids) == threads_count
    assert len(set(user_ids)) == 1
    assert User.objects.filter(email="ana@example.com").count() == 1
    assert StudentAccountBalance.objects.filter(student_id=user_ids[0]).count() == 1
