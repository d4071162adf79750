"""Why a success deserves a person's look even though it is credited (issue 8, item 5).

A PaymentIntent can still be paid long after its checkout was abandoned, or after its plan
was withdrawn or repriced. The purchase is credited at what was sold and paid (its own
snapshot; the amount check is unchanged), and flagged with these reasons.
"""

from datetime import datetime

from django.conf import settings

from finances.models import PricingPlan, PurchaseTransaction
from finances.units import cents_to_amount_string


def late_payment_reasons(*, purchase: PurchaseTransaction, paid_at: datetime) -> list[str]:
    """Reasons to flag this success; one cheap query (the plan as it is now)."""
    bought = (
        f"credited as bought: {purchase.minutes} minutes for "
        f"{cents_to_amount_string(purchase.amount_cents)} {purchase.currency}"
    )
    reasons = []
    age = paid_at - purchase.created_at
    expiry_hours = settings.CHECKOUT_EXPIRY_HOURS
    if age.total_seconds() > expiry_hours * 3600:
        reasons.append(
            f"Paid {age.total_seconds() / 3600:.1f} h after the checkout started (checkouts "
            f"expire after {expiry_hours} h); {bought}."
        )
    if PurchaseTransaction.plan.is_cached(purchase):  # read by purchase_transaction_lock
        plan = purchase.plan
        plan_now = (plan.is_active, plan.price_cents, plan.minutes, plan.currency)
    else:
        plan_now = (
            PricingPlan.objects.filter(pk=purchase.plan_id)
            .values_list("is_active", "price_cents", "minutes", "currency")
            .first()
        )
    snapshot = (True, purchase.amount_cents, purchase.minutes, purchase.currency)
    if plan_now != snapshot:
        if plan_now is None or not plan_now[0]:
            state = "withdrawn"
        else:
            state = (
                f"now {plan_now[2]} minutes for {cents_to_amount_string(plan_now[1])} {plan_now[3]}"
            )
        reasons.append(f"Paid on plan {purchase.plan_name}, {state} since the purchase; {bought}.")
    return reasons
