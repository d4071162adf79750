"""How django-axes names the account and the address of an admin sign-in attempt."""

import ipaddress

from axes.handlers.database import AxesDatabaseHandler
from django.http import HttpRequest

from core.client_ip import client_ip_from_request


def admin_login_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """One count per account, not per spelling (`Admin@X.org `, `admin@x.org`)."""
    credentials = credentials or {}
    username = credentials.get("username")
    if username is None and request is not None:
        username = request.POST.get("username", "")
    return str(username or "").strip().lower()


def admin_login_client_ip(request: HttpRequest) -> str | None:
    """Our client address (trusted proxies only), or None when it is not an address
    (no REMOTE_ADDR on a Unix socket): axes stores it in an IP column."""
    address = client_ip_from_request(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


class AdminOnlyAxesHandler(AxesDatabaseHandler):
    """django-axes for the admin's sign-in only. The people's sign-in (allauth, under
    /accounts/ and /_allauth/) has allauth's own rate limits; without this, their failures
    would be counted against the address too (AXES_ONLY_ADMIN_SITE only stops the lockout
    check, not the counting) and a family's typos could lock an operator out."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is not None and not self.is_admin_request(request):
            return
        super().user_login_failed(sender, credentials, request=request, **kwargs)

    def user_logged_in(self, sender, request, user, **kwargs):
        if request is not None and not self.is_admin_request(request):
            return
        super().user_logged_in(sender, request, user, **kwargs)
