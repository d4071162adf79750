"""The finance API's authentication for allauth's headless app clients."""

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication


class HeadlessSessionTokenAuthentication(XSessionTokenAuthentication):
    """`X-Session-Token: <token>` from `/_allauth/app/v1/auth/…` signs the request in.

    An unknown or expired token is a 401, never a silent anonymous request (allauth's
    default), so a front end learns at once that it must sign in again.
    """

    allow_anonymous_users = False
    allow_invalid_session_tokens = False

    def authenticate_header(self, request) -> str | None:
        # TokenAuthentication comes first and gives DRF its 401 challenge.
        return None
