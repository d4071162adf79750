"""Sign-in for single-page apps (allauth's headless API) and the finance API behind it:
an app client's session token and a browser client's session cookie both open the
finance API; session-authenticated writes need CSRF; guests get neither."""

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import PASSWORD, GuestUserFactory, UserFactory

pytestmark = pytest.mark.django_db

APP_LOGIN = "/_allauth/app/v1/auth/login"
BROWSER_LOGIN = "/_allauth/browser/v1/auth/login"
BALANCE = "/api/finances/balance/"


def verified_user():
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def app_session_token(user, password: str = PASSWORD):
    response = Client().post(
        APP_LOGIN, {"email": user.email, "password": password}, content_type="application/json"
    )
    return response, response.json().get("meta", {}).get("session_token")


def test_an_app_signs_in_and_its_session_token_opens_the_finance_api():
    user = verified_user()

    response, token = app_session_token(user)

    assert response.status_code == 200
    assert response.json()["data"]["user"]["email"] == user.email
    balance = Client().get(BALANCE, HTTP_X_SESSION_TOKEN=token)
    assert balance.status_code == 200, balance.content


def test_an_unknown_session_token_is_a_401_not_an_anonymous_request():
    response = Client().get(BALANCE, HTTP_X_SESSION_TOKEN="not-a-session")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_signing_out_ends_the_app_session_for_the_finance_api_too():
    user = verified_user()
    _, token = app_session_token(user)

    Client().delete("/_allauth/app/v1/auth/session", HTTP_X_SESSION_TOKEN=token)

    assert Client().get(BALANCE, HTTP_X_SESSION_TOKEN=token).status_code == 401


def test_a_wrong_password_gives_no_session_token():
    user = verified_user()

    response, token = app_session_token(user, password="wrong")

    assert response.status_code == 400
    assert token is None


def test_a_guest_gets_no_session_token():
    guest = GuestUserFactory()

    for password in ("", PASSWORD):
        response, token = app_session_token(guest, password=password)
        assert token is None
        assert response.status_code in (400, 401)


def test_an_unverified_account_must_verify_before_its_token_opens_the_api():
    user = UserFactory()  # no verified address

    response, token = app_session_token(user)

    assert response.status_code == 401
    # The token only carries the pending sign-in (verify the email) forward.
    assert Client().get(BALANCE, HTTP_X_SESSION_TOKEN=token).status_code == 401
    flows = {flow["id"]: flow for flow in response.json()["data"]["flows"]}
    assert flows["verify_email"]["is_pending"] is True


def test_a_browser_client_signs_in_with_csrf_and_then_reads_the_api_with_its_cookie():
    user = verified_user()
    browser = Client(enforce_csrf_checks=True)
    browser.get("/_allauth/browser/v1/config")  # sets the csrftoken cookie
    csrf = browser.cookies["csrftoken"].value

    refused = browser.post(
        BROWSER_LOGIN, {"email": user.email, "password": PASSWORD}, content_type="application/json"
    )
    signed_in = browser.post(
        BROWSER_LOGIN,
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )

    assert refused.status_code == 403
    assert signed_in.status_code == 200
    assert browser.get(BALANCE).status_code == 200


def test_a_session_authenticated_api_post_needs_the_csrf_token_and_a_token_one_does_not(
    settings,
):
    user = verified_user()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    body = {"plan_id": 999_999}

    without_csrf = browser.post(
        "/api/finances/purchase/initiate/", body, content_type="application/json"
    )
    token = Token.objects.create(user=user)
    with_token = Client(enforce_csrf_checks=True).post(
        "/api/finances/purchase/initiate/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )

    assert without_csrf.status_code == 403
    assert "CSRF" in without_csrf.json()["error"]["message"]
    assert with_token.status_code == 400  # past authentication: the plan does not exist


def test_the_headless_api_serves_its_specification():
    assert Client().get("/_allauth/openapi.json").status_code == 200


def test_an_app_signs_up_with_a_name_and_must_verify_the_email():
    from django.core import mail

    from accounts.models import User

    response = Client().post(
        "/_allauth/app/v1/auth/signup",
        {"email": "Nova@Example.com", "password": "a brand new passphrase 42", "name": "Nova"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 401  # signed up; the pending flow is verify_email
    user = User.objects.get(email="nova@example.com")
    assert (user.name, user.is_guest, user.language) == ("Nova", False, "en")
    assert [message.to for message in mail.outbox] == [["nova@example.com"]]


def test_an_app_sign_up_with_a_guests_email_leaves_the_guest_alone_and_emails_its_claim_link():
    from django.core import mail

    guest = GuestUserFactory(email="ana@example.com")

    Client().post(
        "/_allauth/app/v1/auth/signup",
        {"email": "ana@example.com", "password": "a brand new passphrase 42", "name": "X"},
        content_type="application/json",
    )

    guest.refresh_from_db()
    assert guest.is_guest
    assert not guest.has_usable_password()
    assert "/accounts/claim/#" in mail.outbox[0].body


def test_a_guest_asking_the_app_api_for_a_code_gets_the_claim_link_and_no_session():
    from django.core import mail

    guest = GuestUserFactory()

    response = Client().post(
        "/_allauth/app/v1/auth/code/request",
        {"email": guest.email},
        content_type="application/json",
    )

    assert "/accounts/claim/#" in mail.outbox[0].body
    assert response.json().get("meta", {}).get("is_authenticated") is not True
