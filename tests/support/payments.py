"""Put purchases in the states tests need, through the real payment services."""

from finances.services.payments import apply_refund, confirm_payment_completion
from finances.stripe_payloads import charge_parse, payment_intent_parse
from tests.support.stripe_events import charge_object, payment_intent_object


def purchase_pay(purchase, *, paid_at_unix: int | None = None):
    """Completes the purchase as a `payment_intent.succeeded` would, crediting its hours."""
    outcome = confirm_payment_completion(
        payment_intent=payment_intent_parse(
            # Only the legacy shape embeds the charge, whose creation time is the payment time.
            payment_intent_object(
                purchase, charge_created=paid_at_unix, legacy_shape=paid_at_unix is not None
            )
        ),
        source_event_id="evt_test_helper",
    )
    purchase.refresh_from_db()
    return outcome


def purchase_refund(purchase, *, refunded_total_cents: int):
    outcome = apply_refund(
        charge=charge_parse(charge_object(purchase, amount_refunded=refunded_total_cents))
    )
    purchase.refresh_from_db()
    return outcome
