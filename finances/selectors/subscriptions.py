"""Reads of subscriptions: whose the caller may see."""

from django.db.models import Q, QuerySet

from accounts.models import User
from finances.models import Subscription


def _visible_to(user: User) -> Q:
    return Q(student=user) | Q(payer=user) | Q(student__guardian_links__guardian=user)


def subscription_list_for_user(*, user: User) -> QuerySet[Subscription]:
    """The caller's (as student or payer) and their linked students', newest first."""
    return (
        Subscription.objects.filter(_visible_to(user))
        .distinct()
        .select_related("plan", "scheduled_plan")
        .order_by("-created_at")
    )


def subscription_get_visible(*, subscription_id, user: User) -> Subscription | None:
    if not user.is_authenticated:
        return None
    queryset = Subscription.objects.select_related("plan", "scheduled_plan")
    staff = user.is_staff and (
        user.has_perm("finances.view_subscription") or user.has_perm("finances.cancel_subscription")
    )
    if not staff:
        queryset = queryset.filter(_visible_to(user)).distinct()
    return queryset.filter(pk=subscription_id).first()
