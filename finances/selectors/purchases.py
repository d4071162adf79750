import hmac

from django.db.models import Q, QuerySet

from accounts.models import User
from finances.models import PurchaseTransaction
from finances.services.purchases import client_secret_hash


def purchase_list_for_user(
    *, user: User, status: str | None = None
) -> QuerySet[PurchaseTransaction]:
    """Purchases where the user is the student or the payer, newest first."""
    queryset = PurchaseTransaction.objects.filter(Q(student=user) | Q(purchased_by=user))
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


def purchase_get_visible(
    *, transaction_id, user: User | None, client_secret: str | None
) -> PurchaseTransaction | None:
    """The purchase if the caller may see it: its student, its payer, staff, or anyone
    holding the PaymentIntent's client secret (a guest). None otherwise, so a stranger
    cannot tell "not yours" from "does not exist"."""
    purchase = PurchaseTransaction.objects.filter(pk=transaction_id).first()
    if purchase is None:
        return None
    is_party = (
        user is not None
        and user.is_authenticated
        and (user.is_staff or user.pk in (purchase.student_id, purchase.purchased_by_id))
    )
    holds_secret = bool(client_secret and purchase.client_secret_hash) and hmac.compare_digest(
        client_secret_hash(client_secret), purchase.client_secret_hash
    )
    return purchase if is_party or holds_secret else None
