"""A family for tests: a guardian linked to a student, with rules; API clients as each."""

from dataclasses import dataclass

from rest_framework.test import APIClient

from accounts.models import GuardianStudentLink, User
from finances.models import PurchaseRequest
from tests.factories import GuardianStudentLinkFactory, UserFactory


@dataclass
class Family:
    guardian: User
    student: User
    link: GuardianStudentLink


def family_create(
    *,
    guardian: User | None = None,
    student: User | None = None,
    approval_mode: str = GuardianStudentLink.ApprovalMode.ALWAYS_ASK,
    approval_threshold_cents: int | None = None,
    monthly_cap_cents: int | None = None,
) -> Family:
    guardian = guardian or UserFactory(name="Guardian")
    student = student or UserFactory(name="Student")
    link = GuardianStudentLinkFactory(
        guardian=guardian,
        student=student,
        approval_mode=approval_mode,
        approval_threshold_cents=approval_threshold_cents,
        monthly_cap_cents=monthly_cap_cents,
    )
    return Family(guardian=guardian, student=student, link=link)


def client_as(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def request_snapshot(request: PurchaseRequest) -> dict:
    """Everything about a request that an action could change, to show it did not."""
    return {
        **PurchaseRequest.objects.values().get(pk=request.pk),
        "events": list(request.events.values_list("kind", flat=True)),
        "purchases": list(request.purchases.values_list("pk", flat=True)),
    }


def localstripe_succeeded_event(localstripe, payment_intent_id: str) -> dict:
    """The payment_intent.succeeded event localstripe produced for this PaymentIntent."""
    produced = [
        found.to_dict()
        for found in localstripe.events("payment_intent.succeeded")
        if found.data.object.id == payment_intent_id
    ]
    assert len(produced) == 1, f"localstripe sent {len(produced)} events for {payment_intent_id}"
    return produced[0]
