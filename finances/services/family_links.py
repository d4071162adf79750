"""Linking guardians and students (docs/families.md): invitations both ways, accepted once
through a signed, expiring link; either side ends a link; the guardian sets its rules."""

import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.emails import email_normalize
from accounts.models import FamilyInvitation, GuardianStudentLink, User
from accounts.services import user_create
from core.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    field_invalid,
)
from finances.models import PurchaseRequest
from finances.services.family_notifications import family_invitation_notify
from finances.services.family_requests import purchase_requests_close_for_link

logger = logging.getLogger(__name__)
Direction = FamilyInvitation.Direction
ApprovalMode = GuardianStudentLink.ApprovalMode
TOKEN_SALT = "finances.family-invitation"


def family_invitation_token(*, invitation: FamilyInvitation) -> str:
    """The token of the emailed link: a signature over (id, nonce), computed on demand."""
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=TOKEN_SALT)


def family_invitation_url(*, invitation: FamilyInvitation) -> str:
    """The link in the email. The token is in the fragment, which browsers never send to
    a server (nor to its logs); the page posts it to the accept endpoint."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return (
        f"{base}/family/invitations/accept/#token={family_invitation_token(invitation=invitation)}"
    )


def family_invitation_create(
    *, inviter: User, email: str, direction: str, relationship: str | None = None
) -> FamilyInvitation:
    email = email_normalize(email)
    if inviter.is_guest:
        raise PermissionDeniedError("A guest account cannot invite anyone.")
    if email == inviter.email:
        raise field_invalid("email", "You cannot invite yourself.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        invitation = FamilyInvitation.objects.create(
            inviter=inviter,
            direction=direction,
            email=email,
            relationship=relationship or GuardianStudentLink.Relationship.PARENT,
            nonce=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=settings.FAMILY_INVITATION_MAX_AGE_HOURS),
        )
        family_invitation_notify(invitation=invitation)
    logger.info(
        "family.invitation_created",
        extra={"invitation_id": invitation.pk, "direction": direction},
    )
    return invitation


def _invitation_from_token(token: str) -> tuple[int, str]:
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
        return int(payload["i"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
        raise ApplicationError(
            "This invitation link is not valid.", code="invitation_invalid", status_code=400
        ) from error


def _account_for_new_user(*, email: str, name: str | None, password: str | None) -> User:
    if User.objects.filter(email=email).exists():
        raise ConflictError(
            "An account with this email exists: sign in, then open the link again.",
            code="account_exists",
        )
    if not name or not password:
        raise field_invalid(
            "password", "Sign in, or give a name and a password to create an account."
        )
    try:
        validate_password(password, user=User(email=email, name=name))
    except ValidationError as error:
        raise field_invalid("password", " ".join(error.messages)) from error
    try:
        with transaction.atomic():
            return user_create(email=email, name=name, password=password)
    except IntegrityError as error:
        raise ConflictError(
            "An account with this email exists: sign in, then open the link again.",
            code="account_exists",
        ) from error


def family_invitation_accept(
    *,
    token: str,
    user: User | None,
    name: str | None = None,
    password: str | None = None,
    now: datetime | None = None,
) -> FamilyInvitation:
    """Accepts once: the signed-in account the invitation was sent to, or a new account
    created for that email (`name`, `password`). Returns the accepted invitation."""
    invitation_id, nonce = _invitation_from_token(token)
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        invitation = (
            FamilyInvitation.objects.select_for_update()
            .select_related("inviter")
            .filter(pk=invitation_id, nonce=nonce)
            .first()
        )
        if invitation is None:
            raise ApplicationError(
                "This invitation link is not valid.", code="invitation_invalid", status_code=400
            )
        if invitation.status != FamilyInvitation.Status.PENDING:
            raise ConflictError("This invitation was already used.", code="invitation_used")
        if invitation.expires_at <= now:
            raise ApplicationError(
                "This invitation has expired: ask for a new one.",
                code="invitation_expired",
                status_code=410,
            )
        if user is None:
            user = _account_for_new_user(email=invitation.email, name=name, password=password)
        elif user.email != invitation.email:
            raise PermissionDeniedError(
                "This invitation was sent to another email address.",
                code="invitation_email_mismatch",
            )
        if invitation.direction == Direction.GUARDIAN_INVITES_STUDENT:
            guardian, student = invitation.inviter, user
        else:
            guardian, student = user, invitation.inviter
        link = GuardianStudentLink.objects.filter(
            guardian=guardian, student=student, ended_at__isnull=True
        ).first()
        if link is None:
            link = GuardianStudentLink.objects.create(
                guardian=guardian,
                student=student,
                relationship=invitation.relationship,
                created_at=now,
            )
        invitation.status = FamilyInvitation.Status.ACCEPTED
        invitation.accepted_at = now
        invitation.accepted_by = user
        invitation.link = link
        invitation.save(update_fields=["status", "accepted_at", "accepted_by", "link"])
    logger.info(
        "family.invitation_accepted", extra={"invitation_id": invitation.pk, "link_id": link.pk}
    )
    return invitation


def family_invitation_revoke(*, invitation_id: int, user: User) -> FamilyInvitation:
    with transaction.atomic(durable=True):
        invitation = (
            FamilyInvitation.objects.select_for_update()
            .filter(pk=invitation_id, inviter=user)
            .first()
        )
        if invitation is None:
            raise NotFoundError("No invitation of yours has this id.")
        if invitation.status == FamilyInvitation.Status.PENDING:
            invitation.status = FamilyInvitation.Status.REVOKED
            invitation.save(update_fields=["status"])
    return invitation


def _link_of_party(*, link_id: int, user: User) -> GuardianStudentLink:
    link = (
        GuardianStudentLink.objects.select_for_update()
        .select_related("guardian", "student")
        .filter(pk=link_id)
        .first()
    )
    if link is None or not (user.is_staff or user.pk in (link.guardian_id, link.student_id)):
        raise NotFoundError("No family link of yours has this id.")
    return link


def guardian_link_end(
    *, link_id: int, ended_by: User, now: datetime | None = None
) -> GuardianStudentLink:
    """Either side (or staff) ends the link from now on; its open requests are cancelled.
    Ending an ended link changes nothing."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        link = _link_of_party(link_id=link_id, user=ended_by)
        if link.ended_at is None:
            link.ended_at = now
            link.ended_by = ended_by
            link.save(update_fields=["ended_at", "ended_by"])
            purchase_requests_close_for_link(
                link=link, actor=ended_by, status=PurchaseRequest.Status.CANCELLED, now=now
            )
    return link


def guardian_link_rules_set(
    *,
    link_id: int,
    user: User,
    approval_mode: str,
    approval_threshold_cents: int | None = None,
    monthly_cap_cents: int | None = None,
) -> GuardianStudentLink:
    """The guardian of an active link sets when the student must ask, and the cap."""
    if approval_mode == ApprovalMode.ASK_ABOVE_AMOUNT and approval_threshold_cents is None:
        raise field_invalid("approval_threshold", "Give the amount above which the student asks.")
    if approval_mode != ApprovalMode.ASK_ABOVE_AMOUNT:
        approval_threshold_cents = None
    if monthly_cap_cents is not None and monthly_cap_cents <= 0:
        raise field_invalid("monthly_cap", "A monthly cap is a positive amount (or none).")
    with transaction.atomic(durable=True):
        link = _link_of_party(link_id=link_id, user=user)
        if link.ended_at is not None:
            raise NotFoundError("No family link of yours has this id.")
        if user.pk != link.guardian_id:
            raise PermissionDeniedError("Only the guardian sets the rules of a family link.")
        link.approval_mode = approval_mode
        link.approval_threshold_cents = approval_threshold_cents
        link.monthly_cap_cents = monthly_cap_cents
        link.rules_updated_at = timezone.now()
        link.rules_updated_by = user
        link.save(
            update_fields=[
                "approval_mode",
                "approval_threshold_cents",
                "monthly_cap_cents",
                "rules_updated_at",
                "rules_updated_by",
            ]
        )
    return link
