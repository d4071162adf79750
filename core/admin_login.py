"""How django-axes names the account and the address of an admin sign-in attempt."""

import ipaddress

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
