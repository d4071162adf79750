"""Every family email renders in both languages, with its link, and escapes nothing in
plain text."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from finances.services.family_links import family_invitation_create
from finances.services.family_requests import (
    purchase_request_create,
    purchase_request_decline,
    purchase_requests_expire,
)
from notifications.models import Notification
from notifications.services import notification_message
from tests.factories import PricingPlanFactory
from tests.support.families import family_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["en", "pt-pt"])
def test_every_family_email_renders_in_each_language(settings, language):
    settings.NOTIFICATION_LANGUAGE = language
    family = family_create()
    family.student.name = "Zé O'Neil"
    family.student.save()
    family_invitation_create(
        inviter=family.guardian, email="other@example.com", direction="GUARDIAN_INVITES_STUDENT"
    )
    request = purchase_request_create(
        student=family.student, plan_id=PricingPlanFactory(name="Dez horas").pk
    )
    purchase_request_decline(request_id=request.pk, user=family.guardian, message="Não")

    for notification in Notification.objects.order_by("pk"):
        message = notification_message(notification=notification)
        html = message.alternatives[0][0]
        assert message.subject.strip(), notification.kind
        assert "{{" not in message.body, notification.kind
        assert "{%" not in html, notification.kind
        if notification.kind != "family_invitation":
            assert "O'Neil" in message.body, notification.kind  # plain text is not escaped
            assert "O&#x27;Neil" in html, notification.kind
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert kinds == {"family_invitation", "purchase_request_created", "purchase_request_declined"}


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("en", "Your request for Dez horas has expired", "nothing was charged"),
        ("pt-pt", "O seu pedido do Dez horas expirou", "nada foi cobrado"),
    ],
)
def test_the_student_is_told_when_a_request_expires_unanswered(settings, language, subject, phrase):
    settings.NOTIFICATION_LANGUAGE = language
    settings.PUBLIC_BASE_URL = "https://shop.example"
    family = family_create()
    plan = PricingPlanFactory(name="Dez horas", slug="dez-horas")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        purchase_request_create(student=family.student, plan_id=plan.pk)
    with time_machine.travel(start + timedelta(hours=24), tick=False):
        purchase_requests_expire()

    [expired] = Notification.objects.filter(kind="purchase_request_expired")
    message = notification_message(notification=expired)
    assert expired.recipient_email == family.student.email
    assert message.subject.strip() == subject
    assert phrase in message.body
    assert "https://shop.example/checkout/dez-horas/" in message.body
    assert "https://shop.example/checkout/dez-horas/" in message.alternatives[0][0]
    # The guardian, who was asked, is not emailed again.
    assert not Notification.objects.filter(
        kind="purchase_request_expired", recipient_email=family.guardian.email
    ).exists()
