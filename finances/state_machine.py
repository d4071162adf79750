"""Which status a purchase moves to when Stripe reports something about its payment.

Forward only: a late `payment_failed` never undoes COMPLETED, a duplicate success changes
nothing, and FAILED is not final (the buyer may try another card and succeed).
"""

from dataclasses import dataclass
from enum import StrEnum

from finances.models import PurchaseTransaction

Status = PurchaseTransaction.Status


class PaymentReport(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


@dataclass(frozen=True)
class Decision:
    target: str | None
    reason: str
    needs_review: bool = False


_OPEN = (Status.PENDING, Status.PROCESSING, Status.FAILED)

_TRANSITIONS: dict[tuple[str, PaymentReport], Decision] = {
    **{(status, PaymentReport.SUCCEEDED): Decision(Status.COMPLETED, "Paid.") for status in _OPEN},
    (Status.CANCELLED, PaymentReport.SUCCEEDED): Decision(
        Status.COMPLETED,
        "Stripe reports a payment for a purchase we had cancelled; credited, check why.",
        needs_review=True,
    ),
    **{
        (status, PaymentReport.FAILED): Decision(Status.FAILED, "Payment attempt failed.")
        for status in _OPEN
    },
    (Status.PENDING, PaymentReport.PROCESSING): Decision(Status.PROCESSING, "Payment processing."),
    (Status.FAILED, PaymentReport.PROCESSING): Decision(
        Status.PROCESSING, "New attempt processing."
    ),
    **{
        (status, PaymentReport.CANCELED): Decision(Status.CANCELLED, "Cancelled.")
        for status in _OPEN
    },
}


def transition_for(current: str, report: PaymentReport) -> Decision:
    """The decision for `report` on a purchase in `current`; `target` None means no change."""
    decision = _TRANSITIONS.get((current, report))
    if decision is not None:
        return decision
    return Decision(None, f"{report.value.lower()} ignored for a {current} purchase.")
