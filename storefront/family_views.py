"""The family pages (docs/families.md, "Pages"): accepting an invitation, and a purchase
request's page, where the guardian asked approves by paying or declines. Thin: the data
comes from selectors, every change from the API, which the pages' JavaScript calls."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from finances.selectors.families import purchase_request_get_visible
from storefront.context_processors import stripe_js_settings


def family_messages() -> dict[str, str]:
    """The family pages' words, for their scripts (the same everywhere)."""
    return {
        "invitation_invalid": _(
            "This invitation link is not valid. Open the link from the email again."
        ),
        "invitation_expired": _("This invitation has expired. Ask for a new one."),
        "invitation_used": _("This invitation has already been used."),
        "invitation_email_mismatch": _(
            "This invitation was sent to another email address. Sign out, then open the link "
            "again, or sign in with the invited account."
        ),
        "account_exists": _(
            "There is already an account for this email. Sign in first, then open the link again."
        ),
        "accepted": _("Done: you are now linked to %(name)s."),
        "no_token": _("This page needs the link from the invitation email."),
        "paying": _("Paying…"),
        "authenticating": _("Your bank asks you to confirm this payment…"),
        "declined": _(
            "Your card was declined, and no money was taken. Check the card's details or use "
            "another card, then try again."
        ),
        "authentication_failed": _(
            "The payment was not authenticated, and no money was taken. Try again, or use "
            "another card."
        ),
        "card_error": _("Check the card's details: %(detail)s"),
        "repriced": _(
            "The plan's price changed since your child asked. It now costs %(price)s. "
            "Confirm to pay the new price."
        ),
        "request_closed": _("This request is no longer pending."),
        "request_expired": _("This request has expired."),
        "request_paid": _("This request is already paid."),
        "plan_unavailable": _("This plan is no longer sold; you can only decline the request."),
        "cap_exceeded": _("This would exceed the monthly cap."),
        "link_ended": _("You are no longer linked to this student."),
        "not_allowed": _("You cannot do this."),
        "request_exists": _("You have already asked for this plan."),
        "no_guardian": _("You have no guardian linked yet. Invite one below."),
        "guardian_approval_required": _(
            "Your guardian approves your purchases: ask them instead of paying."
        ),
        "payment_in_progress": _("A payment is being prepared. Try again in a moment."),
        "unavailable": _("Payments are unavailable for a moment. Try again shortly."),
        "rate_limited": _("Too many attempts. Wait a few minutes and try again."),
        "network": _("We could not reach the server. Check your connection and try again."),
        "invalid": _("Check the fields marked below."),
        "generic": _("That did not work. Reload the page and try again."),
        "saved": _("Saved."),
        "sent": _("Sent."),
        "confirm_end": _("End this link? The history stays; pending requests are cancelled."),
        "stripe_missing": _("The card form could not load. Reload the page to try again."),
        "card_fields": {
            "number": _("Card number"),
            "exp_month": _("Expiry month (MM)"),
            "exp_year": _("Expiry year (YY)"),
            "cvc": _("Security code (CVC)"),
            "postal_code": _("Postal code"),
        },
    }


@require_GET
def invitation_accept(request: HttpRequest) -> HttpResponse:
    """A shell: the token is in the URL's fragment (`#token=`), which the browser never
    sends; the page's script reads it and POSTs it in the body."""
    config = {
        "acceptUrl": reverse("finances:family-invitation-accept"),
        "accountUrl": reverse("storefront:account"),
        "signedIn": request.user.is_authenticated,
        "messages": family_messages(),
    }
    return render(request, "storefront/family_invitation_accept.html", {"family_config": config})


@require_GET
@login_required
def request_detail(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    """The request's student, its guardian and staff see it; anyone else gets 404, as for a
    request that does not exist. Only the guardian asked is offered approve and decline."""
    found = purchase_request_get_visible(request_id=request_id, user=request.user)
    if found is None:
        raise Http404("No purchase request of yours has this id.")
    is_guardian = request.user.pk == found.guardian_id
    can_answer = is_guardian and found.status == found.Status.PENDING
    config = {
        "requestId": str(found.pk),
        "stripe": stripe_js_settings(),
        "urls": {
            "setupIntent": reverse("finances:checkout-setup-intent"),
            "request": reverse("finances:purchase-request", kwargs={"request_id": found.pk}),
            "pay": reverse("finances:purchase-request-pay", kwargs={"request_id": found.pk}),
            "decline": reverse(
                "finances:purchase-request-decline", kwargs={"request_id": found.pk}
            ),
            "cancel": reverse("finances:purchase-request-cancel", kwargs={"request_id": found.pk}),
            "complete": reverse("storefront:complete", kwargs={"transaction_id": uuid.UUID(int=0)}),
        },
        "messages": family_messages(),
    }
    return render(
        request,
        "storefront/family_request.html",
        {
            "purchase_request": found,
            "is_guardian": is_guardian,
            "can_answer": can_answer,
            "can_cancel": request.user.pk == found.student_id
            and found.status == found.Status.PENDING,
            "price_changed": found.differs_from_plan(found.plan),
            "family_config": config,
        },
    )
