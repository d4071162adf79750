"""Sign-in pages (allauth, server-rendered): sign up, verify, sign in by password or by an
emailed code, reset the password, sign out; guests never sign in before claiming."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts.models import User
from tests.factories import PASSWORD, GuestUserFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"


def verified_user(**fields) -> User:
    user = UserFactory(**fields)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def signed_in_user(client: Client) -> User | None:
    user = client.get("/").wsgi_request.user
    return user if user.is_authenticated else None


def link_in(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def test_a_verified_user_signs_in_with_email_and_password_and_lands_on_their_account(client):
    user = verified_user()

    response = sign_in(client, user.email.upper())

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert signed_in_user(client) == user


def test_a_wrong_password_signs_nobody_in(client):
    user = verified_user()

    response = sign_in(client, user.email, "not the password")

    assert response.status_code == 200
    assert signed_in_user(client) is None


def test_a_guest_cannot_sign_in_with_any_password(client):
    guest = GuestUserFactory()

    for password in ("", "!", PASSWORD):
        sign_in(client, guest.email, password)

    assert signed_in_user(client) is None


def test_a_guest_asking_for_a_sign_in_code_gets_the_claim_link_instead(client):
    guest = GuestUserFactory(name="Ana Silva")

    client.post("/accounts/login/code/", {"email": guest.email})

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [guest.email]
    assert "/accounts/claim/#" in message.body
    assert not re.search(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$", message.body, re.MULTILINE)
    assert signed_in_user(client) is None


def test_a_user_signs_in_with_the_code_emailed_to_them(client):
    user = verified_user()

    client.post("/accounts/login/code/", {"email": user.email})
    code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", mail.outbox[0].body, re.MULTILINE).group(1)
    response = client.post("/accounts/login/code/confirm/", {"code": code})

    assert response.status_code == 302
    assert signed_in_user(client) == user


def test_signing_up_creates_an_account_that_must_verify_its_email_first(client):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "Nova@Example.com",
            "name": "  Nova   Pessoa ",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
        HTTP_ACCEPT_LANGUAGE="pt-PT",
    )

    user = User.objects.get(email="nova@example.com")
    assert (user.name, user.is_guest, user.language) == ("Nova Pessoa", False, "pt-pt")
    assert user.check_password(NEW_PASSWORD)
    assert response["Location"] == "/accounts/confirm-email/"
    assert signed_in_user(client) is None
    confirm = client.get(link_in(mail.outbox[0]))
    assert confirm.status_code == 200
    client.post(confirm.wsgi_request.path)
    assert EmailAddress.objects.get(user=user).verified
    assert signed_in_user(client) == user


def test_signing_up_with_a_guests_email_does_not_take_the_account_and_emails_its_claim_link(
    client,
):
    guest = GuestUserFactory(email="ana@example.com")
    original_password = guest.password

    response = client.post(
        "/accounts/signup/",
        {
            "email": "ana@example.com",
            "name": "Intruder",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    guest.refresh_from_db()
    assert User.objects.filter(email="ana@example.com").count() == 1
    assert (guest.is_guest, guest.password, guest.has_usable_password()) == (
        True,
        original_password,
        False,
    )
    # The same answer as a fresh sign-up: nobody learns that the address has an account.
    assert response["Location"] == "/accounts/confirm-email/"
    assert signed_in_user(client) is None
    assert [message.to for message in mail.outbox] == [["ana@example.com"]]
    assert "/accounts/claim/#" in mail.outbox[0].body


def test_a_user_resets_a_forgotten_password_from_the_emailed_link(client):
    user = verified_user()

    client.post("/accounts/password/reset/", {"email": user.email})
    key_page = client.get(link_in(mail.outbox[0]), follow=True)
    client.post(key_page.wsgi_request.path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_guest_asking_for_a_password_reset_gets_the_claim_link(client):
    guest = GuestUserFactory()

    client.post("/accounts/password/reset/", {"email": guest.email})

    assert len(mail.outbox) == 1
    assert "/accounts/claim/#" in mail.outbox[0].body
    assert "/accounts/password/reset/key/" not in mail.outbox[0].body


def test_signing_out_is_a_post_and_a_get_only_asks_to_confirm(client):
    user = verified_user()
    client.force_login(user)

    client.get("/accounts/logout/")
    assert signed_in_user(client) == user

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert signed_in_user(client) is None


def test_every_sign_in_form_needs_its_csrf_token():
    user = verified_user()
    client = Client(enforce_csrf_checks=True)

    for path, data in [
        ("/accounts/login/", {"login": user.email, "password": PASSWORD}),
        ("/accounts/signup/", {"email": "x@example.com", "name": "X", "password1": "p"}),
        ("/accounts/password/reset/", {"email": user.email}),
        ("/accounts/login/code/", {"email": user.email}),
        ("/accounts/claim/", {"token": "t", "password1": "p", "password2": "p"}),
    ]:
        assert client.post(path, data).status_code == 403, path
    assert signed_in_user(client) is None


@pytest.mark.parametrize(
    ("language", "sign_in_words", "label"),
    [("en", "Sign In", "Password"), ("pt-PT", "Iniciar sessão", "Palavra-passe")],
)
def test_the_sign_in_page_speaks_the_browsers_language_with_labelled_fields(
    client, language, sign_in_words, label
):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert sign_in_words in page
    assert f'<label for="id_password">{label}' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<main id="main"' in page  # inside the project's base.html


def test_the_sign_up_page_asks_for_a_name_with_a_label(client):
    page = client.get("/accounts/signup/").content.decode()

    assert '<label for="id_name">' in page
    assert 'autocomplete="name"' in page


def test_repeated_wrong_passwords_for_one_account_are_rate_limited(client):
    user = verified_user()

    for n in range(5):
        sign_in(client, user.email, f"wrong {n}")
    correct_meanwhile = sign_in(client, user.email)

    assert "Too many failed login attempts" in correct_meanwhile.content.decode()
    assert signed_in_user(client) is None


def test_the_people_sign_in_does_not_feed_the_admin_lockout(client, settings):
    from axes.models import AccessAttempt

    settings.AXES_ENABLED = True
    user = verified_user()

    for n in range(3):
        sign_in(client, user.email, f"wrong {n}")

    assert not AccessAttempt.objects.exists()
