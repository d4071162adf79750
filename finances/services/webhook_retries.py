"""Processing again the events that failed, or that a dead worker left behind.

A run first *claims* each event in its own short transaction (`SKIP LOCKED`: an event
being processed elsewhere is passed over), marking it RETRYING and counting the retry,
then processes it. Several runs at once (cron on several machines) therefore never
process one event twice, and never wait on each other.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from finances.models import OperatorAction, WebhookEventLog
from finances.services.operator_actions import (
    REPLAY_PERMISSION,
    operator_action_record,
    operator_permission_require,
)
from finances.services.webhooks import Attempt, WebhookReceipt, webhook_event_process

Status = WebhookEventLog.Status


@dataclass
class RetryRun:
    selected: int = 0
    dry_run: bool = False
    receipts: list[WebhookReceipt] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def outcome_counts(self) -> Counter:
        return Counter(receipt.status for receipt in self.receipts)

    @property
    def failed(self) -> int:
        """Retries that left the event FAILED: errors, and outcomes needing a person."""
        return sum(1 for receipt in self.receipts if receipt.status == Status.FAILED)


def webhook_events_for_retry(
    *,
    event_ids: list[str] | None = None,
    failed_only: bool = False,
    event_type: str | None = None,
    now: datetime | None = None,
) -> QuerySet[WebhookEventLog]:
    """Which events a run would retry.

    Without ids: the retryable ones (backoff elapsed, fewer than the maximum retries, or
    abandoned by a dead worker). `failed_only`: every FAILED event with retries left,
    whatever its backoff. With ids (Stripe event ids or row ids): exactly those events
    that are not finished, even past the maximum (an operator asked for them).
    """
    now = now or timezone.now()
    if event_ids:
        numeric = [int(value) for value in event_ids if value.isdigit()]
        queryset = WebhookEventLog.objects.filter(
            Q(stripe_event_id__in=event_ids) | Q(pk__in=numeric)
        ).exclude(status__in=WebhookEventLog.FINAL_STATUSES)
    elif failed_only:
        queryset = WebhookEventLog.objects.failed().filter(
            retry_count__lt=settings.WEBHOOK_MAX_RETRIES
        )
    else:
        queryset = WebhookEventLog.objects.retryable(now=now)
    if event_type:
        queryset = queryset.filter(event_type=event_type)
    return queryset.order_by("received_at", "id")


def webhook_event_claim(
    *,
    event_log_id: int,
    selection: QuerySet[WebhookEventLog] | None = None,
    run_started_at: datetime | None = None,
) -> bool:
    """Marks the event RETRYING for this run. False when, under its row lock, another
    worker is processing it, it no longer matches the run's selection (another run retried
    it meanwhile: it is finished, or failed again and waits for its next backoff), or it
    was attempted after this run began. The selection defaults to the automatic one."""
    run_started_at = run_started_at or timezone.now()
    if selection is None:
        selection = webhook_events_for_retry(now=run_started_at)
    stale_before = run_started_at - timedelta(seconds=settings.WEBHOOK_STALE_PROCESSING_SECONDS)
    with transaction.atomic(durable=True):
        claimed = (
            selection.select_for_update(skip_locked=True)
            .filter(pk=event_log_id)
            .exclude(status__in=WebhookEventLog.FINAL_STATUSES)
            .exclude(processing_started_at__gt=run_started_at)
            .exclude(
                status__in=[Status.PROCESSING, Status.RETRYING],
                processing_started_at__gt=stale_before,
            )
            .values_list("pk", flat=True)
            .first()
        )
        if claimed is None:
            return False
        WebhookEventLog.objects.filter(pk=event_log_id).update(
            status=Status.RETRYING,
            retry_count=F("retry_count") + 1,
            processing_started_at=timezone.now(),
            next_retry_at=None,
        )
    return True


def webhook_events_retry(
    *,
    event_ids: list[str] | None = None,
    failed_only: bool = False,
    event_type: str | None = None,
    dry_run: bool = False,
    limit: int = 500,
    actor: User | None = None,
    via: str | None = None,
) -> RetryRun:
    """A person (`actor`) needs `finances.replay_webhookeventlog`, checked before anything
    is claimed. Each event replayed by a person, or by the system when `via` names how
    (e.g. "command"), is recorded as an `OperatorAction`."""
    operator_permission_require(actor=actor, permission=REPLAY_PERMISSION)
    run_started_at = timezone.now()
    selection = webhook_events_for_retry(
        event_ids=event_ids, failed_only=failed_only, event_type=event_type, now=run_started_at
    )
    candidates = list(selection.values_list("id", "stripe_event_id")[:limit])
    run = RetryRun(selected=len(candidates), dry_run=dry_run)
    if dry_run:
        run.skipped = [stripe_event_id for _, stripe_event_id in candidates]
        return run
    for event_log_id, stripe_event_id in candidates:
        if not webhook_event_claim(
            event_log_id=event_log_id, selection=selection, run_started_at=run_started_at
        ):
            run.skipped.append(stripe_event_id)
            continue
        run.receipts.append(
            webhook_event_process(event_log_id=event_log_id, attempt=Attempt.CLAIMED)
        )
        if actor is not None or via is not None:
            webhook_replay_record(
                actor=actor, event_log_id=event_log_id, receipt=run.receipts[-1], via=via
            )
    return run


def webhook_replay_record(
    *, actor: User | None, event_log_id: int, receipt: WebhookReceipt, via: str | None
) -> None:
    operator_action_record(
        actor=actor,
        action=OperatorAction.Action.REPLAY,
        event_id=event_log_id,
        details={
            "via": via or "admin",
            "stripe_event_id": receipt.event_id,
            "status": receipt.status,
            **({"error_code": receipt.error_code} if receipt.error_code else {}),
        },
    )
