from finances.models.balances import HoursLedgerEntry, StudentAccountBalance
from finances.models.disputes import Dispute
from finances.models.families import PurchaseRequest, PurchaseRequestEvent
from finances.models.operator_actions import OperatorAction
from finances.models.plans import Currency, PricingPlan
from finances.models.purchases import PurchaseTransaction
from finances.models.subscriptions import (
    StripeCustomer,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatusChange,
)
from finances.models.webhooks import WebhookEventLog

__all__ = [
    "Currency",
    "Dispute",
    "HoursLedgerEntry",
    "OperatorAction",
    "PricingPlan",
    "PurchaseRequest",
    "PurchaseRequestEvent",
    "PurchaseTransaction",
    "StripeCustomer",
    "StudentAccountBalance",
    "Subscription",
    "SubscriptionPeriod",
    "SubscriptionStatusChange",
    "WebhookEventLog",
]
