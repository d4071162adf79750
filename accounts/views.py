"""Server-rendered account pages of our own (allauth serves the rest under /accounts/)."""

import logging

from django.conf import settings
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from accounts.claims import ClaimLinkInvalid, guest_account_claim
from accounts.forms import ClaimAccountForm

logger = logging.getLogger(__name__)

ALLAUTH_BACKEND = "allauth.account.auth_backends.AuthenticationBackend"


@never_cache
@csrf_protect
@sensitive_post_parameters("token", "password1", "password2")
def account_claim(request: HttpRequest) -> HttpResponse:
    """GET: the form; its script moves the token from the URL fragment into the form.
    POST: sets the password, signs in, and goes to /account/."""
    form = ClaimAccountForm(request.POST or None)
    link_invalid = False
    if request.method == "POST" and form.is_valid():
        try:
            user = guest_account_claim(
                token=form.cleaned_data["token"], password=form.cleaned_data["password1"]
            )
        except ClaimLinkInvalid:
            link_invalid = True
        except ValidationError as error:
            form.add_error("password1", error)
        else:
            login(request, user, backend=ALLAUTH_BACKEND)
            logger.info("account.claimed", extra={"user_id": user.pk})
            return redirect(settings.LOGIN_REDIRECT_URL)
    elif request.method == "POST" and "token" in form.errors:
        link_invalid = True
    if link_invalid:
        form.errors.pop("token", None)
    response = render(
        request,
        "account/claim.html",
        {"form": form, "link_invalid": link_invalid, "page_title": _("Claim your account")},
        status=400 if link_invalid else 200,
    )
    # No other site ever gets a Referer from this page (and a Referer never carries the
    # fragment, where the token is). Not `no-referrer`: under it a browser sends
    # `Origin: null` with the page's own form, which Django's CSRF check refuses (403).
    response["Referrer-Policy"] = "same-origin"
    return response
