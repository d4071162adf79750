"""The permission every operator action needs, checked before it acts, and the record of
who did it.

`actor=None` is the system (a management command or a schedule): it needs no permission,
and its records say through what it acted (`details["via"]`). A person always needs the
explicit permission, whatever the admin showed them.
"""

from accounts.models import User
from core.errors import PermissionDeniedError
from finances.models import OperatorAction, PurchaseTransaction, WebhookEventLog

Action = OperatorAction.Action

REFUND_PERMISSION = "finances.refund_purchasetransaction"
RECONCILE_PERMISSION = "finances.reconcile_purchasetransaction"
REPLAY_PERMISSION = "finances.replay_webhookeventlog"
WEBHOOK_HEALTH_PERMISSION = "finances.view_webhookeventlog"


def operator_permission_require(*, actor: User | None, permission: str) -> None:
    """Raises `PermissionDeniedError` (403) unless `actor` is the system or holds it."""
    if actor is None:
        return
    if not (actor.is_active and actor.has_perm(permission)):
        raise PermissionDeniedError(f"This needs the permission {permission}.")


def operator_action_record(
    *,
    actor: User | None,
    action: str,
    purchase: PurchaseTransaction | None = None,
    event: WebhookEventLog | None = None,
    event_id: int | None = None,
    reason: str = "",
    details: dict | None = None,
) -> OperatorAction:
    """One audit row (a single INSERT). `details` holds ids and outcomes, never a secret."""
    return OperatorAction.objects.create(
        actor=actor,
        action=action,
        purchase=purchase,
        event_id=event.pk if event is not None else event_id,
        reason=reason,
        details=details or {},
    )


def operator_action_details_update(*, action: OperatorAction, **outcome) -> None:
    """Adds the outcome of an action recorded before it ran (the who and why never change)."""
    action.details = {**action.details, **outcome}
    OperatorAction.objects.filter(pk=action.pk).update(details=action.details)
