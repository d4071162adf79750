"""The Stripe webhook served past the rest of the middleware stack.

Stripe's POST is machine to machine: it carries no cookie, no session, no user and no
static file, answers in JSON and is exempt from CSRF (it is authenticated by its
signature). Sessions, locale, common, CSRF, authentication, messages, allauth,
clickjacking and axes therefore do nothing for it but cost time on the path every payment
takes (issue 11). This middleware sits right after SecurityMiddleware (whose headers the
answer keeps) and hands the webhook's exact path straight to its view; everything else
goes down the stack as before.
"""

from django.urls import reverse

from finances.api.webhooks import stripe_webhook


class StripeWebhookShortcutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.webhook_path: str | None = None  # resolved on first use (URLconf loaded)

    def __call__(self, request):
        if self.webhook_path is None:
            self.webhook_path = reverse("finances:stripe-webhook")
        if request.path_info == self.webhook_path:
            return stripe_webhook(request)
        return self.get_response(request)
