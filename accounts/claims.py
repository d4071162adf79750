"""Claiming a guest account: the link of a guest's receipt sets its password.

The link is `<PUBLIC_BASE_URL>/accounts/claim/#<token>`: the token travels in the URL
fragment, which browsers never send to a server, so it reaches no access log, proxy log or
Referer; a few lines of script on the page put it in the form. The token is signed (the
SECRET_KEY), expires after `CLAIM_LINK_MAX_AGE_HOURS`, and names the account's password
state: setting a password (claiming, or a reset) changes that state, so a link works once.
Nothing about it is stored.
"""

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import User
from core.errors import ApplicationError

CLAIM_SALT = "accounts.claim"


@dataclass(frozen=True)
class ClaimLink:
    url: str
    max_age_hours: int


def _account_state(user: User) -> str:
    """Changes whenever the password changes or the account stops being a guest."""
    return salted_hmac(
        CLAIM_SALT, f"{user.pk}:{user.password}:{user.is_guest}:{user.email}", algorithm="sha256"
    ).hexdigest()[:32]


def claim_token_make(*, user: User) -> str:
    return signing.dumps({"u": user.pk, "s": _account_state(user)}, salt=CLAIM_SALT)


def claim_link_for_user(*, user: User) -> ClaimLink | None:
    """The link a guest's email carries, or None when the account is not a guest's."""
    if not user.is_guest or not user.is_active:
        return None
    path = reverse("account_claim")
    return ClaimLink(
        url=f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}#{claim_token_make(user=user)}",
        max_age_hours=settings.CLAIM_LINK_MAX_AGE_HOURS,
    )


class ClaimLinkInvalid(ApplicationError):
    default_code = "claim_link_invalid"
    default_message = "This link has expired or was already used."


def claim_token_user(*, token: str) -> User:
    """The guest this token is for; ClaimLinkInvalid when it is forged, expired, or the
    account was claimed (or its password changed) since the link was made."""
    try:
        payload = signing.loads(
            token, salt=CLAIM_SALT, max_age=settings.CLAIM_LINK_MAX_AGE_HOURS * 3600
        )
    except signing.BadSignature as error:  # SignatureExpired is one
        raise ClaimLinkInvalid() from error
    user = User.objects.filter(pk=payload.get("u"), is_guest=True, is_active=True).first()
    if user is None or not constant_time_compare(_account_state(user), str(payload.get("s"))):
        raise ClaimLinkInvalid()
    return user


def guest_account_claim(*, token: str, password: str) -> User:
    """Sets the guest's password: from now on a normal account with a verified email."""
    with transaction.atomic(durable=True):
        user = claim_token_user(token=token)
        # The row lock makes a second submission of the same link wait, then fail the
        # state check above in its own transaction.
        user = User.objects.select_for_update().get(pk=user.pk)
        if not user.is_guest:
            raise ClaimLinkInvalid()
        validate_password(password, user=user)
        user_claim_as_verified(user=user, password=password)
    return user


def user_claim_as_verified(*, user: User, password: str | None = None) -> None:
    """The owner of the guest's email proved it (a claim link, a password reset): the
    account is no longer a guest's and its address is verified and primary."""
    if password is not None:
        user.set_password(password)
    user.is_guest = False
    user.save(update_fields=["password", "is_guest"])
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    if not (address.verified and address.primary):
        EmailAddress.objects.filter(pk=address.pk).update(verified=True, primary=True)
