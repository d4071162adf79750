from django.urls import path

from finances.api.balances import BalanceHistoryView, BalanceView
from finances.api.checkout import CheckoutSetupIntentView
from finances.api.consumptions import LessonConsumptionView, LessonReversalView
from finances.api.frontend_config import FrontendConfigView
from finances.api.plans import PricingPlanListView
from finances.api.purchases import PurchaseInitiateView, PurchaseListView, PurchaseStatusView
from finances.api.subscriptions import (
    SubscriptionCancelView,
    SubscriptionChangePlanView,
    SubscriptionDetailView,
    SubscriptionListCreateView,
    SubscriptionResumeView,
)
from finances.api.webhooks import stripe_webhook

app_name = "finances"

urlpatterns = [
    path("plans/", PricingPlanListView.as_view(), name="plans"),
    path("config/", FrontendConfigView.as_view(), name="frontend-config"),
    path("checkout/setup-intent/", CheckoutSetupIntentView.as_view(), name="checkout-setup-intent"),
    path("purchase/initiate/", PurchaseInitiateView.as_view(), name="purchase-initiate"),
    path(
        "purchase/<uuid:transaction_id>/status/",
        PurchaseStatusView.as_view(),
        name="purchase-status",
    ),
    path("transactions/", PurchaseListView.as_view(), name="transactions"),
    path("balance/", BalanceView.as_view(), name="balance"),
    path("balance/history/", BalanceHistoryView.as_view(), name="balance-history"),
    path("consumptions/", LessonConsumptionView.as_view(), name="consumptions"),
    path("consumptions/reversals/", LessonReversalView.as_view(), name="consumption-reversals"),
    path("webhooks/stripe/", stripe_webhook, name="stripe-webhook"),
    path("subscriptions/", SubscriptionListCreateView.as_view(), name="subscriptions"),
    path(
        "subscriptions/<uuid:subscription_id>/",
        SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/cancel/",
        SubscriptionCancelView.as_view(),
        name="subscription-cancel",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/resume/",
        SubscriptionResumeView.as_view(),
        name="subscription-resume",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/change-plan/",
        SubscriptionChangePlanView.as_view(),
        name="subscription-change-plan",
    ),
]
