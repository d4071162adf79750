"""A student asks a guardian to pay for a plan (docs/families.md): ask, cancel, decline,
expire. Paying is finances/services/family_payments.py; the webhook closes it as PAID
(family_completion.py). Every state change is a PurchaseRequestEvent naming who."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import GuardianStudentLink, User
from accounts.selectors import guardian_links_active_for_student
from core.errors import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from finances.locks import purchase_request_lock
from finances.models import PurchaseRequest, PurchaseRequestEvent, PurchaseTransaction
from finances.selectors.families import guardian_spending_this_month_cents
from finances.services.family_notifications import (
    purchase_request_created_notify,
    purchase_request_declined_notify,
    purchase_request_expired_notify,
)
from finances.units import cents_to_amount_string

logger = logging.getLogger(__name__)
Status = PurchaseRequest.Status
Kind = PurchaseRequestEvent.Kind
OPEN_PAYMENT_STATUSES = [
    PurchaseTransaction.Status.PENDING,
    PurchaseTransaction.Status.PROCESSING,
    PurchaseTransaction.Status.FAILED,
]


class GuardianApprovalRequired(ApplicationError):
    default_code = "guardian_approval_required"
    default_message = (
        "A guardian approves this purchase: ask them with POST "
        "/api/finances/purchase-requests/ (plan_id); they pay for it."
    )
    default_status_code = 403


def purchase_request_event_record(
    *,
    request: PurchaseRequest,
    kind: str,
    from_status: str,
    actor: User | None,
    purchase: PurchaseTransaction | None = None,
    detail: dict | None = None,
) -> PurchaseRequestEvent:
    return PurchaseRequestEvent.objects.create(
        request=request,
        kind=kind,
        from_status=from_status,
        to_status=request.status,
        actor=actor,
        purchase_transaction=purchase,
        detail=detail or {},
    )


def student_purchase_approval_check(
    *, student: User, payer: User | None, amount_cents: int
) -> None:
    """Refuses a purchase the student's guardians must approve. A purchase paid by one of
    the student's active guardians is allowed. Any other (the student's own, or a guest
    checkout crediting the student) needs every active guardian's rules to allow it at
    this price: the strictest guardian wins."""
    if payer is not None and payer.pk != student.pk:
        return  # the caller resolved an active guardian link for this payer
    links = guardian_links_active_for_student(student_id=student.pk)
    if any(link.approval_required_for(amount_cents) for link in links):
        raise GuardianApprovalRequired()


def monthly_cap_check(*, link: GuardianStudentLink, amount_cents: int) -> None:
    if link.monthly_cap_cents is None:
        return
    spent = guardian_spending_this_month_cents(
        guardian_id=link.guardian_id, student_id=link.student_id
    )
    if spent + amount_cents > link.monthly_cap_cents:
        raise ConflictError(
            f"This would exceed the monthly cap: {cents_to_amount_string(spent)} of "
            f"{cents_to_amount_string(link.monthly_cap_cents)} spent this month, and this "
            f"costs {cents_to_amount_string(amount_cents)}.",
            code="monthly_cap_exceeded",
        )


def _link_for_request(*, student: User, guardian_id: int | None) -> GuardianStudentLink:
    links = guardian_links_active_for_student(student_id=student.pk)
    if guardian_id is not None:
        for link in links:
            if link.guardian_id == guardian_id:
                return link
        raise ApplicationError(
            code="validation_error",
            message="The request has invalid fields.",
            fields={"guardian_id": ["No guardian linked to you has this id."]},
        )
    if not links:
        raise ConflictError(
            "No guardian is linked to you: invite one first.", code="no_guardian_linked"
        )
    if len(links) > 1:
        raise ApplicationError(
            code="validation_error",
            message="The request has invalid fields.",
            fields={"guardian_id": ["Several guardians are linked to you: choose one."]},
        )
    return links[0]


def purchase_request_create(
    *, student: User, plan_id: int, guardian_id: int | None = None, message: str = ""
) -> PurchaseRequest:
    """The student asks; plan, hours, price and terms are frozen now. Refused at once when
    the guardian's monthly cap would be exceeded."""
    from finances.services.purchases import pricing_plan_for_purchase

    plan = pricing_plan_for_purchase(plan_id=plan_id)
    link = _link_for_request(student=student, guardian_id=guardian_id)
    monthly_cap_check(link=link, amount_cents=plan.price_cents)
    now = timezone.now()
    try:
        with transaction.atomic(durable=True):
            _expire_overdue(PurchaseRequest.objects.filter(guardian_link=link, plan=plan), now=now)
            request = PurchaseRequest.objects.create(
                student=student,
                guardian_id=link.guardian_id,
                guardian_link=link,
                plan=plan,
                plan_type=plan.plan_type,
                plan_name=plan.name,
                minutes=plan.minutes,
                amount_cents=plan.price_cents,
                currency=plan.currency,
                validity_days=plan.validity_days,
                billing_period=plan.billing_period,
                message=message,
                created_at=now,
                expires_at=now + timedelta(hours=settings.FAMILY_PURCHASE_REQUEST_EXPIRY_HOURS),
            )
            purchase_request_event_record(
                request=request, kind=Kind.CREATED, from_status="", actor=student
            )
            purchase_request_created_notify(purchase_request=request)
    except IntegrityError as error:
        raise ConflictError(
            "You already asked for this plan; the request is waiting for your guardian.",
            code="purchase_request_exists",
        ) from error
    logger.info("family.request_created", extra={"purchase_request_id": str(request.pk)})
    return request


def _close(request: PurchaseRequest, *, status: str, actor: User | None, now, **detail) -> None:
    previous = request.status
    request.status = status
    request.closed_at = now
    request.save(update_fields=["status", "closed_at", "decline_message", "updated_at"])
    purchase_request_event_record(
        request=request, kind=status, from_status=previous, actor=actor, detail=detail
    )


def _expire_overdue(queryset, *, now: datetime) -> list:
    """Expires the overdue PENDING requests of `queryset` (in the caller's transaction)."""
    expired = []
    for request_id in queryset.filter(status=Status.PENDING, expires_at__lte=now).values_list(
        "pk", flat=True
    ):
        request = purchase_request_lock(request_id=request_id)
        if request.status == Status.PENDING and request.expires_at <= now:
            _close(request, status=Status.EXPIRED, actor=None, now=now)
            purchase_request_expired_notify(purchase_request=request)
            expired.append(request.pk)
    return expired


def _open_payments(request_ids) -> list[PurchaseTransaction]:
    return list(
        PurchaseTransaction.objects.filter(
            purchase_request_id__in=list(request_ids), status__in=OPEN_PAYMENT_STATUSES
        )
    )


def open_payments_close(purchases: list[PurchaseTransaction]) -> None:
    """Cancels the unpaid PaymentIntents of closed requests (no transaction open); one
    paid meanwhile is credited instead, and its request becomes PAID."""
    from finances.services.checkouts import abandoned_checkout_expire

    for purchase in purchases:
        result = abandoned_checkout_expire(purchase=purchase, now=timezone.now())
        logger.info(
            "family.request_payment_closed",
            extra={"transaction_id": str(purchase.pk), "action": str(result.action)},
        )


def _guarded_change(*, request_id, user: User, action: str, message: str = "") -> PurchaseRequest:
    now = timezone.now()
    with transaction.atomic(durable=True):
        request = purchase_request_lock(request_id=request_id)
        if request is None or user.pk not in (request.student_id, request.guardian_id):
            raise NotFoundError("No purchase request of yours has this id.")
        if action == "decline":
            if user.pk != request.guardian_id:
                raise PermissionDeniedError(
                    "Only the guardian asked can decline this request.", code="not_the_guardian"
                )
            if request.guardian_link.ended_at is not None:
                raise PermissionDeniedError(
                    "You are no longer linked to this student.", code="family_link_ended"
                )
        elif user.pk != request.student_id:
            raise PermissionDeniedError(
                "Only the student who asked can cancel this request.", code="not_the_student"
            )
        expired = bool(_expire_overdue(PurchaseRequest.objects.filter(pk=request.pk), now=now))
        if not expired:
            if request.status != Status.PENDING:
                raise ConflictError(
                    f"This request is {request.status.lower()}.", code="purchase_request_closed"
                )
            if action == "decline":
                request.decline_message = message
                _close(request, status=Status.DECLINED, actor=user, now=now)
                purchase_request_declined_notify(purchase_request=request)
            else:
                _close(request, status=Status.CANCELLED, actor=user, now=now)
    if expired:
        raise ConflictError("This request has expired.", code="purchase_request_expired")
    open_payments_close(_open_payments([request.pk]))
    request.refresh_from_db()
    return request


def purchase_request_decline(*, request_id, user: User, message: str = "") -> PurchaseRequest:
    """The guardian asked says no (the student is told, with the optional message)."""
    return _guarded_change(request_id=request_id, user=user, action="decline", message=message)


def purchase_request_cancel(*, request_id, user: User) -> PurchaseRequest:
    """The student withdraws their own request."""
    return _guarded_change(request_id=request_id, user=user, action="cancel")


def purchase_requests_close_for_link(
    *, link: GuardianStudentLink, actor: User | None, status: str, now: datetime
) -> list:
    """A link ended: its pending requests are cancelled (in the caller's transaction).
    Their unpaid PaymentIntents are left to the abandoned-checkout expiry."""
    closed = []
    for request_id in PurchaseRequest.objects.filter(
        guardian_link=link, status=Status.PENDING
    ).values_list("pk", flat=True):
        request = purchase_request_lock(request_id=request_id)
        if request.status == Status.PENDING:
            _close(request, status=status, actor=actor, now=now, reason="family_link_ended")
            closed.append(request.pk)
    return closed


def purchase_requests_expire(*, now: datetime | None = None, limit: int = 500) -> str:
    """The `purchase_requests_expire` schedule: overdue PENDING requests become EXPIRED
    (recorded with no actor: the system), then their unpaid PaymentIntents are closed. A
    request whose payment is PROCESSING waits (the bank has not answered)."""
    now = now or timezone.now()
    overdue = PurchaseRequest.objects.filter(status=Status.PENDING, expires_at__lte=now).exclude(
        purchases__status=PurchaseTransaction.Status.PROCESSING
    )
    ids = list(overdue.order_by("expires_at").values_list("pk", flat=True)[:limit])
    with transaction.atomic(durable=True):
        expired = _expire_overdue(PurchaseRequest.objects.filter(pk__in=ids), now=now)
    open_payments_close(_open_payments(expired))
    return f"{len(expired)} purchase requests expired."
