"""What the storefront's pages show, read through the finances and accounts selectors."""

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import User
from accounts.selectors import guardian_link_list
from finances.models import HoursLedgerEntry, PricingPlan, PurchaseTransaction
from finances.selectors.balances import (
    BalanceSummary,
    balance_summary_get,
    ledger_entries_for_student,
)
from finances.selectors.plans import pricing_plan_list_active
from finances.selectors.purchases import purchase_list_for_user

ACCOUNT_ROWS_SHOWN = 50


@dataclass(frozen=True)
class StudentOverview:
    student: User
    is_me: bool
    balance: BalanceSummary
    ledger: list[HoursLedgerEntry]


@dataclass(frozen=True)
class AccountOverview:
    students: list[StudentOverview]
    purchases: list[PurchaseTransaction]


def storefront_plans_get() -> dict[str, list[PricingPlan]]:
    plans = list(pricing_plan_list_active())
    return {
        "packages": [p for p in plans if p.plan_type == PricingPlan.PlanType.PACKAGE],
        "subscriptions": [p for p in plans if p.plan_type == PricingPlan.PlanType.SUBSCRIPTION],
    }


def storefront_plan_get(*, slug: str) -> PricingPlan | None:
    return pricing_plan_list_active().filter(slug=slug).first()


def account_overview_get(*, user: User, expiring_within_days: int) -> AccountOverview:
    """The user's own hours and lessons, then each linked student's (a guardian's), and
    the purchases the user made or received. Nobody else's."""
    students = [user] + [link.student for link in guardian_link_list(guardian=user)]
    return AccountOverview(
        students=[
            StudentOverview(
                student=student,
                is_me=student.pk == user.pk,
                balance=balance_summary_get(
                    student_id=student.pk, expiring_within_days=expiring_within_days
                ),
                ledger=list(ledger_entries_for_student(student_id=student.pk)[:ACCOUNT_ROWS_SHOWN]),
            )
            for student in students
        ],
        purchases=list(
            purchase_list_for_user(user=user).select_related("student")[:ACCOUNT_ROWS_SHOWN]
        ),
    )


def guardian_students_list(*, user: User) -> QuerySet:
    return guardian_link_list(guardian=user)
