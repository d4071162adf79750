"""What the family pages show (docs/families.md, "Pages"), read through the accounts and
finances selectors: a user's links (either side), their requests, and the plans a student
may ask for."""

from dataclasses import dataclass

from accounts.models import GuardianStudentLink, User
from accounts.selectors import guardian_links_active_for_student, guardian_links_for_user
from finances.models import PricingPlan, PurchaseRequest
from finances.selectors.families import purchase_request_list_for_user
from finances.selectors.plans import pricing_plan_list_active

ROWS_SHOWN = 50


@dataclass(frozen=True)
class AccountFamily:
    as_guardian: list[GuardianStudentLink]  # active links where I am the guardian
    as_student: list[GuardianStudentLink]  # active links where I am the student
    ended: list[GuardianStudentLink]
    requests_to_me: list[PurchaseRequest]  # addressed to me, a guardian
    my_requests: list[PurchaseRequest]  # asked by me, a student
    plans: list[PricingPlan]


def account_family_get(*, user: User) -> AccountFamily:
    links = list(guardian_links_for_user(user_id=user.pk)[:ROWS_SHOWN])
    active = [link for link in links if link.ended_at is None]
    requests = list(purchase_request_list_for_user(user=user)[:ROWS_SHOWN])
    as_student = [link for link in active if link.student_id == user.pk]
    return AccountFamily(
        as_guardian=[link for link in active if link.guardian_id == user.pk],
        as_student=as_student,
        ended=[link for link in links if link.ended_at is not None],
        requests_to_me=[r for r in requests if r.guardian_id == user.pk],
        my_requests=[r for r in requests if r.student_id == user.pk],
        plans=list(pricing_plan_list_active()) if as_student else [],
    )


def student_must_ask_for(*, user: User, plan: PricingPlan) -> list[GuardianStudentLink]:
    """The student's active guardian links when the rules say this plan needs approval
    (the strictest guardian wins, as in `student_purchase_approval_check`); else none."""
    if not user.is_authenticated:
        return []
    links = guardian_links_active_for_student(student_id=user.pk)
    if any(link.approval_required_for(plan.price_cents) for link in links):
        return links
    return []
