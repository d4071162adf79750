from django.urls import path

from finances.api.balances import BalanceHistoryView, BalanceView
from finances.api.checkout import CheckoutSetupIntentView
from finances.api.consumptions import LessonConsumptionView, LessonReversalView
from finances.api.families import (
    FamilyInvitationAcceptView,
    FamilyInvitationListCreateView,
    FamilyInvitationRevokeView,
    FamilyLinkEndView,
    FamilyLinkListView,
    FamilyLinkRulesView,
    PurchaseRequestCancelView,
    PurchaseRequestDeclineView,
    PurchaseRequestDetailView,
    PurchaseRequestListCreateView,
    PurchaseRequestPayView,
    StudentBalanceView,
)
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
    # --- families (docs/families.md) ---
    path("purchase-requests/", PurchaseRequestListCreateView.as_view(), name="purchase-requests"),
    path(
        "purchase-requests/<uuid:request_id>/",
        PurchaseRequestDetailView.as_view(),
        name="purchase-request",
    ),
    path(
        "purchase-requests/<uuid:request_id>/pay/",
        PurchaseRequestPayView.as_view(),
        name="purchase-request-pay",
    ),
    path(
        "purchase-requests/<uuid:request_id>/decline/",
        PurchaseRequestDeclineView.as_view(),
        name="purchase-request-decline",
    ),
    path(
        "purchase-requests/<uuid:request_id>/cancel/",
        PurchaseRequestCancelView.as_view(),
        name="purchase-request-cancel",
    ),
    path(
        "family/invitations/",
        FamilyInvitationListCreateView.as_view(),
        name="family-invitations",
    ),
    path(
        "family/invitations/accept/",
        FamilyInvitationAcceptView.as_view(),
        name="family-invitation-accept",
    ),
    path(
        "family/invitations/<int:invitation_id>/revoke/",
        FamilyInvitationRevokeView.as_view(),
        name="family-invitation-revoke",
    ),
    path("family/links/", FamilyLinkListView.as_view(), name="family-links"),
    path("family/links/<int:link_id>/end/", FamilyLinkEndView.as_view(), name="family-link-end"),
    path(
        "family/links/<int:link_id>/rules/",
        FamilyLinkRulesView.as_view(),
        name="family-link-rules",
    ),
    path(
        "students/<int:student_id>/balance/",
        StudentBalanceView.as_view(),
        name="student-balance",
    ),
    # --- end families ---
]
