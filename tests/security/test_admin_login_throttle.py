"""Guessing an admin password is throttled (django-axes): per account, whatever the
address, and per address, whatever the account; a locked sign-in refuses even the right
password, says so clearly, and an operator (or the cool-off) unlocks it."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, StaffUserFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
LOCKED = "Sign-in temporarily locked"


@pytest.fixture(autouse=True)
def _throttle_on(settings):
    """On, with the configured defaults: ADMIN_LOGIN_FAILURE_LIMIT=5, ..._COOLOFF_MINUTES=15."""
    settings.AXES_ENABLED = True


def sign_in(username: str, password: str, *, address: str = "203.0.113.7"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    return response, client


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_forty_wrong_passwords_lock_the_account_after_the_limit():
    admin = StaffUserFactory()

    responses = [sign_in(admin.email, f"guess-{n}")[0] for n in range(40)]

    assert [response.status_code for response in responses[:4]] == [200] * 4
    assert all(LOCKED not in response.content.decode() for response in responses[:4])
    assert {response.status_code for response in responses[4:]} == {429}
    page = responses[-1].content.decode()
    assert LOCKED in page
    assert "axes_reset_username" in page


def test_the_right_password_is_refused_while_locked_and_works_once_unlocked():
    admin = StaffUserFactory()
    for n in range(5):
        sign_in(admin.email, f"guess-{n}")

    locked, client = sign_in(admin.email, PASSWORD)

    assert locked.status_code == 429
    assert not signed_in(client)

    call_command("axes_reset_username", admin.email)
    unlocked, client = sign_in(admin.email, PASSWORD)

    assert unlocked.status_code == 302
    assert signed_in(client)


def test_a_sprayed_account_is_locked_whatever_the_address_and_spelling():
    admin = StaffUserFactory(email="ops@example.org")
    for n, spelling in enumerate(["ops@example.org", "OPS@example.org", " Ops@Example.org "] * 2):
        sign_in(spelling, "wrong", address=f"198.51.100.{n}")

    response, client = sign_in(admin.email, PASSWORD, address="192.0.2.200")

    assert response.status_code == 429
    assert not signed_in(client)


def test_a_spraying_address_is_locked_whatever_the_account():
    victim = StaffUserFactory()
    for n in range(5):
        sign_in(f"nobody{n}@example.org", "wrong", address="203.0.113.99")

    from_there, client = sign_in(victim.email, PASSWORD, address="203.0.113.99")
    elsewhere, other = sign_in(victim.email, PASSWORD, address="192.0.2.1")

    assert from_there.status_code == 429
    assert not signed_in(client)
    assert elsewhere.status_code == 302
    assert signed_in(other)


def test_the_lock_ends_after_the_cool_off(time_machine):
    admin = StaffUserFactory()
    time_machine.move_to("2026-03-01 10:00:00+00:00", tick=False)
    for n in range(5):
        sign_in(admin.email, f"guess-{n}")
    assert sign_in(admin.email, PASSWORD)[0].status_code == 429

    time_machine.shift(timedelta(minutes=16))
    response, client = sign_in(admin.email, PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


def test_a_sign_in_without_a_client_address_is_counted_by_account_only():
    admin = StaffUserFactory()

    responses = [sign_in(admin.email, "wrong", address="")[0] for _ in range(5)]

    assert [response.status_code for response in responses] == [200, 200, 200, 200, 429]
