"""SetupIntents for checkout pages: Stripe.js turns a typed card into a PaymentMethod
with `confirmCardSetup`, then the purchase confirms its PaymentIntent with it."""

import logging
import uuid

from finances import stripe_billing
from finances.stripe_billing import SetupIntentData

logger = logging.getLogger(__name__)


def checkout_setup_intent_create(*, request_id: uuid.UUID) -> SetupIntentData:
    """Nothing is stored: a SetupIntent moves no money, and one never used is harmless."""
    setup = stripe_billing.setup_intent_create(idempotency_key=f"checkout-setup:{request_id}")
    logger.info("checkout.setup_intent_created", extra={"setup_intent_id": setup.id})
    return setup
