from django.urls import path

from finances.api.purchases import PricingPlanListView, PurchaseInitiateView
from finances.api.webhooks import StripeWebhookView

app_name = "finances"

urlpatterns = [
    path("plans/", PricingPlanListView.as_view(), name="plans"),
    path("purchase/initiate/", PurchaseInitiateView.as_view(), name="purchase-initiate"),
    path("webhooks/stripe/", StripeWebhookView.as_view(), name="stripe-webhook"),
]
