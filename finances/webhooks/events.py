"""The events the Stripe webhook endpoint subscribes to: one list, used by
`manage.py stripe_webhook_endpoint`, the Stripe CLI instructions and the docs (a test
checks that `docs/stripe-webhooks.md` lists exactly these and that every handled type is
here)."""

from finances.webhooks.handlers import EVENT_HANDLERS

# Disputes and refund updates/failures (issue 8, items 1 and 2). Their handlers are added to
# EVENT_HANDLERS by another branch; until it is merged these are recorded and IGNORED.
DISPUTE_AND_REFUND_UPDATE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
    "refund.failed",
    "refund.updated",
    "charge.refund.updated",
)

WEBHOOK_ENDPOINT_EVENTS: tuple[str, ...] = tuple(
    sorted(set(EVENT_HANDLERS) | set(DISPUTE_AND_REFUND_UPDATE_EVENTS))
)
