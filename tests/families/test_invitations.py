"""Linking through invitations: signed, single-use, expiring links, both directions."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.signing import dumps
from django.utils import timezone

from accounts.models import FamilyInvitation, GuardianStudentLink, User
from finances.services.family_links import (
    TOKEN_SALT,
    family_invitation_accept,
    family_invitation_create,
    family_invitation_token,
)
from notifications.models import Notification
from notifications.services import notification_message
from tests.factories import PASSWORD, UserFactory
from tests.support.families import client_as

pytestmark = pytest.mark.django_db

Direction = FamilyInvitation.Direction
ACCEPT_URL = "/api/finances/family/invitations/accept/"


def _invite(inviter, email, direction=Direction.GUARDIAN_INVITES_STUDENT):
    invitation = family_invitation_create(inviter=inviter, email=email, direction=direction)
    return invitation, family_invitation_token(invitation=invitation)


def test_a_guardian_invites_a_student_who_accepts_signed_in_and_they_are_linked():
    guardian, student = UserFactory(), UserFactory(email="kid@example.com")
    _, token = _invite(guardian, "Kid@Example.com")

    response = client_as(student).post(ACCEPT_URL, {"token": token}, format="json")

    assert response.status_code == 200, response.content
    link = GuardianStudentLink.objects.get()
    assert (link.guardian, link.student, link.is_active) == (guardian, student, True)
    assert response.json()["link"]["id"] == link.pk
    assert response.json()["invitation"]["status"] == "ACCEPTED"


def test_a_student_invites_a_guardian_who_accepts_and_becomes_the_guardian():
    student, guardian = UserFactory(), UserFactory(email="mum@example.com")
    _, token = _invite(student, guardian.email, Direction.STUDENT_INVITES_GUARDIAN)

    family_invitation_accept(token=token, user=guardian)

    link = GuardianStudentLink.objects.get()
    assert (link.guardian, link.student) == (guardian, student)


def test_someone_without_an_account_creates_one_while_accepting_and_is_signed_in():
    guardian = UserFactory()
    _, token = _invite(guardian, "new-kid@example.com")
    client = client_as(None)

    response = client.post(
        ACCEPT_URL, {"token": token, "name": "New Kid", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    student = User.objects.get(email="new-kid@example.com")
    assert student.check_password(PASSWORD)
    assert not student.is_guest
    assert GuardianStudentLink.objects.get().student == student
    assert response.json()["account_created"] is True
    assert client.get("/api/finances/family/links/").status_code == 200  # signed in


def test_accepting_without_an_account_refuses_an_email_that_already_has_one():
    guardian = UserFactory()
    UserFactory(email="kid@example.com")
    _, token = _invite(guardian, "kid@example.com")

    response = client_as(None).post(
        ACCEPT_URL, {"token": token, "name": "Kid", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "account_exists"
    assert not GuardianStudentLink.objects.exists()


def test_an_invitation_can_be_used_only_once():
    guardian, student = UserFactory(), UserFactory(email="kid@example.com")
    _, token = _invite(guardian, student.email)
    client = client_as(student)
    client.post(ACCEPT_URL, {"token": token}, format="json")

    again = client.post(ACCEPT_URL, {"token": token}, format="json")

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invitation_used"
    assert GuardianStudentLink.objects.count() == 1


def test_an_invitation_expires_after_the_configured_hours(settings):
    settings.FAMILY_INVITATION_MAX_AGE_HOURS = 48
    guardian, student = UserFactory(), UserFactory(email="kid@example.com")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        invitation, token = _invite(guardian, student.email)

    with time_machine.travel(start + timedelta(hours=47, minutes=59), tick=False):
        still_valid = invitation.expires_at > timezone.now()
    with time_machine.travel(start + timedelta(hours=48), tick=False):
        response = client_as(student).post(ACCEPT_URL, {"token": token}, format="json")

    assert still_valid
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "invitation_expired"
    assert not GuardianStudentLink.objects.exists()


def test_only_the_invited_email_can_accept():
    guardian, stranger = UserFactory(), UserFactory()
    _, token = _invite(guardian, "kid@example.com")

    response = client_as(stranger).post(ACCEPT_URL, {"token": token}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invitation_email_mismatch"
    assert FamilyInvitation.objects.get().status == FamilyInvitation.Status.PENDING


@pytest.mark.parametrize(
    "forge",
    [
        lambda invitation: "not-a-token",
        lambda invitation: dumps({"i": invitation.pk, "n": "guessed"}, salt=TOKEN_SALT),
        lambda invitation: dumps({"i": invitation.pk, "n": invitation.nonce}, salt="other"),
        lambda invitation: family_invitation_token(invitation=invitation)[:-2] + "xx",
    ],
    ids=["garbage", "wrong-nonce", "wrong-salt", "tampered"],
)
def test_a_forged_or_tampered_token_accepts_nothing(forge):
    guardian, student = UserFactory(), UserFactory(email="kid@example.com")
    invitation, _ = _invite(guardian, student.email)

    response = client_as(student).post(ACCEPT_URL, {"token": forge(invitation)}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invitation_invalid"
    assert not GuardianStudentLink.objects.exists()


def test_the_invitation_email_carries_the_token_in_the_fragment_and_none_is_stored(settings):
    settings.PUBLIC_BASE_URL = "https://school.example"
    guardian = UserFactory(name="Ana Guardian")
    invitation, token = _invite(guardian, "kid@example.com")

    notification = Notification.objects.get(kind="family_invitation")
    message = notification_message(notification=notification)

    assert notification.recipient_email == "kid@example.com"
    assert f"https://school.example/family/invitations/accept/#token={token}" in message.body
    assert "Ana Guardian" in message.subject
    assert token not in str(notification.context)
    assert token not in str(FamilyInvitation.objects.values().get(pk=invitation.pk))
    assert not mail.outbox  # sent by the worker, not in the request


def test_the_invitation_api_creates_lists_and_is_rate_limited(settings):
    settings.RATE_LIMITING_ENABLED = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "family_invitation_user": "2/hour"}
    guardian = UserFactory()
    client = client_as(guardian)
    payload = {"email": "kid@example.com", "direction": "GUARDIAN_INVITES_STUDENT"}

    answers = [
        client.post("/api/finances/family/invitations/", payload, format="json") for _ in range(3)
    ]
    listed = client.get("/api/finances/family/invitations/")

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert listed.json()["count"] == 2
    assert "nonce" not in listed.json()["results"][0]


def test_nobody_invites_themself():
    guardian = UserFactory(email="me@example.com")

    response = client_as(guardian).post(
        "/api/finances/family/invitations/",
        {"email": "ME@example.com", "direction": "GUARDIAN_INVITES_STUDENT"},
        format="json",
    )

    assert response.status_code == 400
    assert not FamilyInvitation.objects.exists()


def test_the_token_is_refused_in_the_url_query_it_belongs_in_the_body():
    guardian, student = UserFactory(), UserFactory(email="kid@example.com")
    _, token = _invite(guardian, student.email)

    response = client_as(student).post(f"{ACCEPT_URL}?token={token}", {}, format="json")

    assert response.status_code == 400
    assert not GuardianStudentLink.objects.exists()
