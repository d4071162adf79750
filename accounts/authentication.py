"""The finance API's authentication for allauth's headless app clients."""

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from drf_spectacular.extensions import OpenApiAuthenticationExtension


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


class HeadlessSessionTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of `X-Session-Token`."""

    target_class = HeadlessSessionTokenAuthentication
    name = "headlessSessionToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Session-Token",
            "description": "The session token of allauth's headless app client "
            "(`POST /_allauth/app/v1/auth/login` → `meta.session_token`).",
        }
