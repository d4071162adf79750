"""The family flow's emails, enqueued in the caller's transaction (notification_enqueue).

Contexts hold ids, numbers and names, never a token: the invitation link is signed again
when the email is rendered (`{% family_invitation_url %}`, finances/templatetags).
"""

from django.conf import settings

from accounts.models import FamilyInvitation
from finances.models import PurchaseRequest
from notifications.services import notification_enqueue

FAMILY_INVITATION = "family_invitation"
PURCHASE_REQUEST_CREATED = "purchase_request_created"
PURCHASE_REQUEST_DECLINED = "purchase_request_declined"
PURCHASE_REQUEST_EXPIRED = "purchase_request_expired"
PURCHASE_REQUEST_PAID = "purchase_request_paid"


def purchase_request_url(*, purchase_request: PurchaseRequest) -> str:
    """The guardian's page for the request (served by the pages app)."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/family/requests/{purchase_request.pk}/"


def family_invitation_notify(*, invitation: FamilyInvitation) -> None:
    notification_enqueue(
        kind=FAMILY_INVITATION,
        object_key=f"invitation:{invitation.pk}",
        recipient=invitation.email,
        context={
            "invitation_id": invitation.pk,
            "inviter_name": invitation.inviter.name or invitation.inviter.email,
            "invited_as": "student"
            if invitation.direction == FamilyInvitation.Direction.GUARDIAN_INVITES_STUDENT
            else "guardian",
            "expires_at": invitation.expires_at.isoformat(),
        },
    )


def _request_context(purchase_request: PurchaseRequest) -> dict:
    return {
        "purchase_request_id": str(purchase_request.pk),
        "student_name": purchase_request.student.name or purchase_request.student.email,
        "guardian_name": purchase_request.guardian.name or purchase_request.guardian.email,
        "plan_name": purchase_request.plan_name,
        "hours": purchase_request.hours,
        "amount": purchase_request.amount,
        "currency": purchase_request.currency,
        "expires_at": purchase_request.expires_at.isoformat(),
        "url": purchase_request_url(purchase_request=purchase_request),
    }


def purchase_request_created_notify(*, purchase_request: PurchaseRequest) -> None:
    """The guardian is asked, with the link to approve and pay or decline."""
    notification_enqueue(
        kind=PURCHASE_REQUEST_CREATED,
        object_key=f"purchase_request:{purchase_request.pk}",
        recipient=purchase_request.guardian.email,
        context={**_request_context(purchase_request), "message": purchase_request.message},
    )


def purchase_request_declined_notify(*, purchase_request: PurchaseRequest) -> None:
    notification_enqueue(
        kind=PURCHASE_REQUEST_DECLINED,
        object_key=f"purchase_request:{purchase_request.pk}",
        recipient=purchase_request.student.email,
        context={
            **_request_context(purchase_request),
            "decline_message": purchase_request.decline_message,
        },
    )


def purchase_request_expired_notify(*, purchase_request: PurchaseRequest) -> None:
    """The student learns that nobody answered in time, with the plan's checkout page,
    where they may ask again."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    notification_enqueue(
        kind=PURCHASE_REQUEST_EXPIRED,
        object_key=f"purchase_request:{purchase_request.pk}",
        recipient=purchase_request.student.email,
        context={
            **_request_context(purchase_request),
            "ask_again_url": f"{base}/checkout/{purchase_request.plan.slug}/",
        },
    )


def purchase_request_paid_notify(*, purchase_request: PurchaseRequest) -> None:
    """Both are told: the student that the hours are there, the guardian as a receipt."""
    for recipient, role in (
        (purchase_request.student.email, "student"),
        (purchase_request.guardian.email, "guardian"),
    ):
        notification_enqueue(
            kind=PURCHASE_REQUEST_PAID,
            object_key=f"purchase_request:{purchase_request.pk}",
            recipient=recipient,
            context={**_request_context(purchase_request), "role": role},
        )
