"""Reads of the family flow (docs/families.md): spending against a cap, who sees what."""

from datetime import datetime

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import FamilyInvitation, GuardianStudentLink, User
from finances.models import PurchaseRequest, PurchaseTransaction


def month_bounds(*, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The current calendar month in the product's time zone (TIME_ZONE, Europe/Lisbon)."""
    local = timezone.localtime(now or timezone.now())
    following = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    # Midnight of the 1st in local time, each with its own UTC offset (summer time).
    start = timezone.make_aware(datetime(local.year, local.month, 1))
    end = timezone.make_aware(datetime(*following, 1))
    return start, end


def guardian_spending_this_month_cents(
    *, guardian_id: int, student_id: int, now: datetime | None = None
) -> int:
    """What the guardian paid for the student this month: completed purchases (refunded
    ones count what was kept), by payment time."""
    start, end = month_bounds(now=now)
    total = PurchaseTransaction.objects.filter(
        student_id=student_id,
        purchased_by_id=guardian_id,
        status__in=[PurchaseTransaction.Status.COMPLETED, PurchaseTransaction.Status.REFUNDED],
        paid_at__gte=start,
        paid_at__lt=end,
    ).aggregate(kept=Sum(F("amount_cents") - F("refunded_amount_cents")))["kept"]
    return int(total or 0)


def purchase_request_list_for_user(
    *, user: User, status: str | None = None, student_id: int | None = None
) -> QuerySet[PurchaseRequest]:
    """A student's own requests, and the requests addressed to a guardian; newest first."""
    queryset = PurchaseRequest.objects.select_related("student", "guardian").filter(
        Q(student=user) | Q(guardian=user)
    )
    if status:
        queryset = queryset.filter(status=status)
    if student_id is not None:
        queryset = queryset.filter(student_id=student_id)
    return queryset.order_by("-created_at", "-pk")


def purchase_request_get_visible(*, request_id, user: User) -> PurchaseRequest | None:
    """The request if the user is its student or the guardian it is addressed to (or
    staff); None otherwise, so another family's request looks like no request at all."""
    found = (
        PurchaseRequest.objects.select_related("student", "guardian", "plan")
        .filter(pk=request_id)
        .first()
    )
    if found is None:
        return None
    if user.is_staff or user.pk in (found.student_id, found.guardian_id):
        return found
    return None


def student_visible_to(*, user: User, student_id: int) -> bool:
    """The student themself, staff, and the student's active guardians."""
    if not user.is_authenticated or not 0 < student_id < 2**63:
        return False
    if user.is_staff or user.pk == student_id:
        return User.objects.filter(pk=student_id).exists()
    return GuardianStudentLink.objects.filter(
        guardian_id=user.pk, student_id=student_id, ended_at__isnull=True
    ).exists()


def family_invitation_list_for_user(*, user: User) -> QuerySet[FamilyInvitation]:
    """Invitations the user sent, and those sent to the user's email; newest first."""
    return (
        FamilyInvitation.objects.select_related("inviter")
        .filter(Q(inviter=user) | Q(email=user.email))
        .order_by("-created_at", "-pk")
    )
