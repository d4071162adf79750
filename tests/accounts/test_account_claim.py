"""Claiming a guest account from the emailed link: once, before it expires, then signed in
on /account/ as a normal account; the token never reaches a server in a URL."""

from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.test import Client
from django.utils import timezone

from accounts.claims import ClaimLinkInvalid, claim_link_for_user, claim_token_user
from tests.factories import GuestUserFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a brand new passphrase 42"


def token_of(link_url: str) -> str:
    return link_url.split("#", 1)[1]


def claim(client: Client, token: str, password: str = PASSWORD, again: str | None = None):
    return client.post(
        "/accounts/claim/",
        {"token": token, "password1": password, "password2": again or password},
    )


def signed_in_user(client: Client):
    user = client.get("/").wsgi_request.user
    return user if user.is_authenticated else None


def test_the_link_carries_its_token_in_the_fragment_which_no_server_receives(settings):
    settings.PUBLIC_BASE_URL = "https://shop.example"
    link = claim_link_for_user(user=GuestUserFactory())

    assert link.url.startswith("https://shop.example/accounts/claim/#")
    assert link.max_age_hours == settings.CLAIM_LINK_MAX_AGE_HOURS


def test_a_guest_claims_the_account_sets_a_password_is_signed_in_and_sees_their_account(client):
    guest = GuestUserFactory(email="ana@example.com")
    token = token_of(claim_link_for_user(user=guest).url)

    response = claim(client, token)

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    guest.refresh_from_db()
    assert guest.is_guest is False
    assert guest.check_password(PASSWORD)
    assert signed_in_user(client) == guest
    address = EmailAddress.objects.get(user=guest)
    assert (address.email, address.verified, address.primary) == ("ana@example.com", True, True)


def test_the_claimed_account_signs_in_with_its_new_password_afterwards():
    guest = GuestUserFactory()
    claim(Client(), token_of(claim_link_for_user(user=guest).url))

    client = Client()
    client.post("/accounts/login/", {"login": guest.email, "password": PASSWORD})

    assert signed_in_user(client) == guest


def test_a_link_works_once():
    guest = GuestUserFactory()
    token = token_of(claim_link_for_user(user=guest).url)
    claim(Client(), token)

    response = claim(Client(), token, password="another passphrase 99")

    assert response.status_code == 400
    assert "expired or was already used" in response.content.decode()
    guest.refresh_from_db()
    assert guest.check_password(PASSWORD)


def test_every_earlier_link_dies_with_the_claim():
    guest = GuestUserFactory()
    first = token_of(claim_link_for_user(user=guest).url)
    second = token_of(claim_link_for_user(user=guest).url)
    claim(Client(), second)

    with pytest.raises(ClaimLinkInvalid):
        claim_token_user(token=first)


def test_a_link_expires_after_claim_link_max_age_hours(settings):
    settings.CLAIM_LINK_MAX_AGE_HOURS = 72
    guest = GuestUserFactory()
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        token = token_of(claim_link_for_user(user=guest).url)

    with time_machine.travel(now + timedelta(hours=71, minutes=59), tick=False):
        assert claim_token_user(token=token) == guest
    with time_machine.travel(now + timedelta(hours=72, seconds=1), tick=False):
        response = claim(Client(), token)

    assert response.status_code == 400
    guest.refresh_from_db()
    assert guest.is_guest is True
    assert not guest.has_usable_password()


def test_a_forged_or_altered_token_is_refused():
    guest = GuestUserFactory()
    token = token_of(claim_link_for_user(user=guest).url)

    for forged in ("", "nonsense", token[:-2] + ("AA" if token[-2:] != "AA" else "BB")):
        with pytest.raises(ClaimLinkInvalid):
            claim_token_user(token=forged)


def test_an_account_that_is_no_guest_has_no_claim_link_and_old_tokens_stop_working():
    assert claim_link_for_user(user=UserFactory()) is None

    guest = GuestUserFactory()
    token = token_of(claim_link_for_user(user=guest).url)
    guest.is_guest = False
    guest.save()

    with pytest.raises(ClaimLinkInvalid):
        claim_token_user(token=token)


def test_a_weak_or_mismatched_password_is_refused_and_the_link_still_works(client):
    guest = GuestUserFactory()
    token = token_of(claim_link_for_user(user=guest).url)

    weak = claim(client, token, password="12345678")
    mismatched = claim(client, token, password=PASSWORD, again=PASSWORD + "x")

    assert weak.status_code == 200
    assert mismatched.status_code == 200
    guest.refresh_from_db()
    assert guest.is_guest is True
    assert claim(client, token).status_code == 302


def test_the_claim_page_sends_no_referer_to_other_sites_and_is_never_cached(client):
    response = client.get("/accounts/claim/")

    # Same-origin only: `no-referrer` would make the browser post the form with
    # `Origin: null`, refused by the CSRF check (tests/browser/test_sign_in_and_claim.py).
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    assert "window.location.hash" in page
    assert '<label for="id_password1">' in page


def test_the_claim_page_speaks_portuguese(client):
    page = client.get("/accounts/claim/", HTTP_ACCEPT_LANGUAGE="pt-PT").content.decode()

    assert "Ativar a sua conta" in page
