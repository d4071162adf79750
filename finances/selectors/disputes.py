"""Reads about disputes for operators: what is open and how much money it puts at risk."""

from dataclasses import dataclass

from django.db.models import Count, Sum

from finances.models import Dispute


@dataclass(frozen=True)
class OpenDisputes:
    count: int
    amount_cents_by_currency: dict[str, int]
    held_minutes: int


def disputes_open_summary() -> OpenDisputes:
    rows = (
        Dispute.objects.filter(outcome=Dispute.Outcome.OPEN)
        .values("currency")
        .annotate(count=Count("id"), amount=Sum("amount_cents"), held=Sum("held_minutes"))
        .order_by("currency")
    )
    rows = list(rows)
    return OpenDisputes(
        count=sum(row["count"] for row in rows),
        amount_cents_by_currency={row["currency"]: row["amount"] or 0 for row in rows},
        held_minutes=sum(row["held"] or 0 for row in rows),
    )
