"""The buyer's pages. Thin: the data comes from selectors, the payment from the API
(`/api/finances/…`), which the pages' JavaScript calls like any other front end."""

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from finances.models import PricingPlan
from storefront.context_processors import stripe_js_settings
from storefront.family_selectors import account_family_get, student_must_ask_for
from storefront.family_views import family_messages
from storefront.selectors import (
    account_overview_get,
    guardian_students_list,
    storefront_plan_get,
    storefront_plans_get,
)


def _checkout_messages() -> dict[str, str]:
    return {
        "paying": _("Paying…"),
        "subscribing": _("Subscribing…"),
        "authenticating": _("Your bank asks you to confirm this payment…"),
        "declined": _(
            "Your card was declined, and no money was taken. Check the card's details or "
            "use another card, then try again."
        ),
        "authentication_failed": _(
            "The payment was not authenticated, and no money was taken. Try again, or use "
            "another card."
        ),
        "card_error": _("Check the card's details: %(detail)s"),
        "invalid": _("Check the fields marked below."),
        "rate_limited": _("Too many attempts. Wait a few minutes and try again."),
        "unavailable": _("Payments are unavailable for a moment. Try again shortly."),
        "network": _("We could not reach the server. Check your connection and try again."),
        "generic": _("Something went wrong and no money was taken. Try again."),
        "stripe_missing": _("The card form could not load. Reload the page to try again."),
        "subscription_exists": _(
            "You already have a monthly plan. Change or cancel it on your account page."
        ),
        "confirming": _("Waiting for the payment's confirmation…"),
        "retry": _("Try again"),
        "guardian_approval_required": _(
            "Your guardian approves your purchases: reload the page to ask them instead."
        ),
        "card_fields": {
            "number": _("Card number"),
            "exp_month": _("Expiry month (MM)"),
            "exp_year": _("Expiry year (YY)"),
            "cvc": _("Security code (CVC)"),
            "postal_code": _("Postal code"),
        },
    }


@require_GET
def plans(request: HttpRequest) -> HttpResponse:
    return render(request, "storefront/plans.html", storefront_plans_get())


@require_GET
def checkout(request: HttpRequest, slug: str) -> HttpResponse:
    plan = storefront_plan_get(slug=slug)
    if plan is None:
        raise Http404("No such plan.")
    is_subscription = plan.plan_type == PricingPlan.PlanType.SUBSCRIPTION
    students = (
        [link.student for link in guardian_students_list(user=request.user)]
        if request.user.is_authenticated
        else []
    )
    config = {
        "planId": plan.pk,
        "subscription": is_subscription,
        "signedIn": request.user.is_authenticated,
        "stripe": stripe_js_settings(),
        "pollMilliseconds": settings.STOREFRONT_STATUS_POLL_MILLISECONDS,
        "pollSeconds": settings.STOREFRONT_STATUS_POLL_SECONDS,
        "urls": {
            "setupIntent": reverse("finances:checkout-setup-intent"),
            "initiate": reverse("finances:purchase-initiate"),
            "subscriptions": "/api/finances/subscriptions/",
            "complete": reverse("storefront:complete", kwargs={"transaction_id": uuid.UUID(int=0)}),
            "account": reverse("storefront:account"),
        },
        "messages": _checkout_messages(),
    }
    return render(
        request,
        "storefront/checkout.html",
        {
            "plan": plan,
            "is_subscription": is_subscription,
            "students": students,
            "checkout_config": config,
            # families: a student whose guardians approve purchases asks instead of paying.
            "ask_links": student_must_ask_for(user=request.user, plan=plan),
            "family_config": {
                "messages": family_messages(),
                "accountUrl": reverse("storefront:account"),
            },
        },
    )


@require_GET
def complete(request: HttpRequest, transaction_id: uuid.UUID) -> HttpResponse:
    """A shell: the page's script asks the status endpoint (guests with the client secret
    the checkout page kept in this tab's sessionStorage, in the X-Client-Secret header)."""
    config = {
        "transactionId": str(transaction_id),
        "statusUrl": reverse("finances:purchase-status", kwargs={"transaction_id": transaction_id}),
        "pollMilliseconds": settings.STOREFRONT_STATUS_POLL_MILLISECONDS,
        "pollSeconds": settings.STOREFRONT_STATUS_POLL_SECONDS,
        "language": request.LANGUAGE_CODE,
        "messages": {
            "waiting": _("Waiting for the payment's confirmation…"),
            "completed": _("Payment received. Your hours are ready."),
            "failed": _("The payment did not go through, and no hours were added."),
            "cancelled": _("This payment was cancelled."),
            "refunded": _("This payment was refunded."),
            "not_found": _(
                "We cannot show this purchase here. If you paid as a guest, open the link "
                "in the tab you paid in, or check your email for the receipt."
            ),
            "slow": _(
                "This is taking longer than usual. Your payment is safe: the hours will "
                "appear in your account as soon as it is confirmed."
            ),
            "never_expires": _("No expiry while the subscription is active"),
        },
    }
    return render(
        request,
        "storefront/complete.html",
        {"transaction_id": transaction_id, "complete_config": config},
    )


@require_GET
@login_required
def account(request: HttpRequest) -> HttpResponse:
    overview = account_overview_get(
        user=request.user, expiring_within_days=settings.STOREFRONT_EXPIRING_SOON_DAYS
    )
    config = {
        "subscriptionsUrl": "/api/finances/subscriptions/",
        "language": request.LANGUAGE_CODE,
        "messages": {
            "none": _("You have no subscriptions."),
            "cancel": _("Cancel at the end of the period"),
            "resume": _("Resume"),
            "confirm_cancel": _("Cancel this subscription at the end of the current period?"),
            "error": _("That did not work. Reload the page and try again."),
            "load_error": _("Your subscriptions cannot be shown right now. Reload the page."),
            "not_open": _("This subscription has ended; it cannot be changed."),
            "hours_per_period": {
                "MONTH": _("%(hours)s of lessons each month"),
                "YEAR": _("%(hours)s of lessons each year"),
            },
            "next_plan": _("From the next renewal: %(name)s"),
            "period": _("Current period: %(start)s – %(end)s"),  # noqa: RUF001
            "status": {
                "active": _("Active"),
                "past_due": _("Payment overdue"),
                "canceled": _("Cancelled"),
                "incomplete": _("Waiting for the first payment"),
                "incomplete_expired": _("Expired before the first payment"),
                "unpaid": _("Unpaid"),
            },
            "cancels_at_period_end": _("Ends at the end of this period"),
        },
    }
    return render(
        request,
        "storefront/account.html",
        {
            "overview": overview,
            "expiring_within_days": settings.STOREFRONT_EXPIRING_SOON_DAYS,
            "account_config": config,
            "family": account_family_get(user=request.user),
            "family_config": {"messages": family_messages()},
        },
    )
