"""Messages the product sends: written in the caller's transaction, sent by the worker.

`notification_enqueue` writes the row and enqueues its send job on the caller's database
connection (django-q2's ORM broker), so both exist only if the caller's transaction
commits. The worker's `notification_send` claims the row, sends through Django's email
framework with no transaction open, and marks it SENT; a failure is recorded with a
backoff and retried by the `notifications_retry` schedule. A SENT row is never sent
again, so a job run twice (a retry, a resubmit from the admin) sends once.
"""

import functools
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.tasks import async_task

from core.prepared_statements import prepared_fetchone
from notifications.models import Notification

logger = logging.getLogger(__name__)

Status = Notification.Status
SEND_JOB = "notifications.services.notification_send"
# The unique key that makes enqueueing idempotent (Notification.Meta).
UNIQUE_KEY_COLUMNS = ("kind", "object_key", "recipient_email")


class NotificationSendError(RuntimeError):
    """The message could not be sent this time; it is retried after its backoff."""


def notification_enqueue(
    *,
    kind: str,
    object_key: str,
    recipient: str,
    context: dict,
    language: str | None = None,
) -> Notification | None:
    """Records the message and enqueues its sending; None when it was already recorded
    (same kind, object and recipient).

    Inside the caller's transaction no savepoint of its own wraps the pair (a failing
    enqueue fails the caller's transaction anyway); outside one, the pair is one."""
    notification = Notification(
        kind=kind,
        object_key=object_key,
        recipient_email=recipient,
        language=language or settings.NOTIFICATION_LANGUAGE,
        context=context,
    )
    with transaction.atomic(savepoint=False):
        if _enqueued_in_one_statement():
            return notification if _notification_insert_and_enqueue(notification) else None
        if not _notification_insert_once(notification):
            return None
        async_task(SEND_JOB, notification_id=notification.pk, group="notifications")
    return notification


class _PackageCapture:
    """A django-q2 broker that keeps the signed job package instead of pushing it, so
    that the message's INSERT and the job's are one statement (below)."""

    list_key = Conf.CLUSTER_NAME

    def __init__(self) -> None:
        self.package: str | None = None

    def enqueue(self, task: str) -> None:
        self.package = task


def _enqueued_in_one_statement() -> bool:
    # PostgreSQL with django-q2's ORM broker on this database, and jobs not run inline.
    return connection.vendor == "postgresql" and connection.alias == Conf.ORM and not Conf.SYNC


def _notification_insert_and_enqueue(notification: Notification) -> bool:
    """The message's INSERT … ON CONFLICT DO NOTHING and its send job's INSERT into the
    ORM broker's queue in one statement: the job row exists exactly when the message row
    was inserted (a data-modifying CTE). The job names the message by its unique key,
    since its id is not known before the statement. One round trip per message instead
    of two (a webhook's receipt)."""
    capture = _PackageCapture()
    async_task(
        SEND_JOB,
        notification_key=[getattr(notification, name) for name in UNIQUE_KEY_COLUMNS],
        group="notifications",
        broker=capture,
    )
    _, values = _notification_insert_sql(notification)
    parameters = [
        *values,
        capture.list_key,
        capture.package,
        OrmQ._meta.get_field("lock").get_db_prep_save(timezone.now(), connection),
    ]
    return _notification_insert_run(notification, _notification_and_job_text(), parameters)


@functools.cache
def _notification_and_job_text() -> str:
    """The message's INSERT with its job's, in one statement (text from the models only)."""
    insert_sql, _ = _notification_insert_text()
    quote = connection.ops.quote_name
    return (
        # Names from the models' metadata; every value is a parameter.
        f"WITH inserted AS ({insert_sql}) "  # noqa: S608
        f"INSERT INTO {quote(OrmQ._meta.db_table)} "
        f"({quote('key')}, {quote('payload')}, {quote('lock')}) "
        "SELECT %s, %s, %s FROM inserted RETURNING (SELECT id FROM inserted)"
    )


def _notification_insert_run(notification: Notification, sql: str, parameters: list) -> bool:
    """Runs an INSERT … RETURNING id of the message; False when it was already recorded."""
    row = prepared_fetchone(sql, parameters)
    if row is None:
        return False
    notification.pk = row[0]
    notification._state.adding = False
    return True


@functools.cache
def _notification_insert_text() -> tuple[str, tuple]:
    """The message's INSERT (its text depends only on the model) and the fields it writes."""
    fields = tuple(field for field in Notification._meta.concrete_fields if not field.primary_key)
    quote = connection.ops.quote_name
    sql = (
        # Names from the model's metadata; every value is a parameter.
        f"INSERT INTO {quote(Notification._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(quote(name) for name in UNIQUE_KEY_COLUMNS)}) DO NOTHING "
        f"RETURNING {quote(Notification._meta.pk.column)}"
    )
    return sql, fields


def _notification_insert_sql(notification: Notification) -> tuple[str, list]:
    sql, fields = _notification_insert_text()
    values = [
        field.get_db_prep_save(field.pre_save(notification, add=True), connection)
        for field in fields
    ]
    return sql, values


def _notification_insert_once(notification: Notification) -> bool:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id (PostgreSQL, SQLite ≥ 3.35): an
    already recorded message is found by the unique key in the same round trip, without
    the savepoint an IntegrityError would need inside the caller's transaction (a webhook's
    receipt: two round trips fewer)."""
    sql, values = _notification_insert_sql(notification)
    return _notification_insert_run(notification, sql, values)


def _claim(*, notification_id: int, now: datetime) -> Notification | None:
    stale_before = now - timedelta(seconds=settings.NOTIFICATION_STALE_SENDING_SECONDS)
    with transaction.atomic(durable=True):
        notification = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, attempts__lt=settings.NOTIFICATION_MAX_ATTEMPTS)
            .filter(
                Q(status__in=[Status.PENDING, Status.FAILED])
                | Q(status=Status.SENDING, attempt_started_at__lt=stale_before)
            )
            .first()
        )
        if notification is None:
            return None
        notification.status = Status.SENDING
        notification.attempts += 1
        notification.attempt_started_at = now
        notification.next_attempt_at = None
        notification.save(
            update_fields=["status", "attempts", "attempt_started_at", "next_attempt_at"]
        )
    return notification


def _links(*, notification: Notification) -> dict:
    """Links made when the message is rendered, never stored: the site's pages, and a
    guest's claim link (signed, expiring; accounts/claims.py) from `claim_user_id`."""
    base_url = settings.PUBLIC_BASE_URL.rstrip("/")
    links = {"site_url": f"{base_url}/", "account_url": f"{base_url}/account/"}
    if plan_slug := notification.context.get("plan_slug"):
        links["checkout_url"] = f"{base_url}/checkout/{plan_slug}/"
    if claim_user_id := notification.context.get("claim_user_id"):
        from accounts.claims import claim_link_for_user
        from accounts.models import User

        user = User.objects.filter(pk=claim_user_id).first()
        link = claim_link_for_user(user=user) if user is not None else None
        if link is not None:
            links["claim_url"] = link.url
            links["claim_max_age_hours"] = link.max_age_hours
    return links


def notification_message(*, notification: Notification) -> EmailMultiAlternatives:
    context = {
        key: (parse_datetime(value) if key.endswith("_at") and isinstance(value, str) else value)
        for key, value in notification.context.items()
    }
    context.update(_links(notification=notification))
    base = f"notifications/{notification.kind}"
    with translation.override(notification.language):
        subject = render_to_string(f"{base}/subject.{notification.language}.txt", context)
        text = render_to_string(f"{base}/body.{notification.language}.txt", context)
        html = render_to_string(f"{base}/body.{notification.language}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient_email],
    )
    message.attach_alternative(html, "text/html")
    return message


def notification_send(
    *, notification_id: int | None = None, notification_key: list[str] | None = None
) -> str:
    """The worker's job. Raises when sending failed, so the job is a failure in the admin
    with its error; the row keeps the error and when it is tried again. The message is
    named by its id, or by its unique key (kind, object key, recipient) when the job was
    enqueued in the message's own INSERT statement."""
    if notification_id is None:
        notification_id = (
            Notification.objects.filter(
                **dict(zip(UNIQUE_KEY_COLUMNS, notification_key, strict=True))
            )
            .values_list("pk", flat=True)
            .first()
        )
        if notification_id is None:
            return f"Notification {notification_key}: no such message."
    now = timezone.now()
    notification = _claim(notification_id=notification_id, now=now)
    if notification is None:
        return f"Notification {notification_id}: nothing to send (sent, being sent or given up)."
    try:
        notification_message(notification=notification).send()
    except Exception as error:
        _record_failure(notification=notification, error=error)
        raise NotificationSendError(
            f"Notification {notification_id} failed (attempt {notification.attempts}): "
            f"{type(error).__name__}: {error}"
        ) from error
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.SENT, sent_at=timezone.now(), last_error=""
    )
    logger.info(
        "notification.sent",
        extra={"notification_id": notification.pk, "kind": notification.kind},
    )
    return f"Notification {notification_id} sent."


def _record_failure(*, notification: Notification, error: Exception) -> None:
    exhausted = notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
    backoff = settings.NOTIFICATION_RETRY_BACKOFF_SECONDS * 2 ** (notification.attempts - 1)
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.ABANDONED if exhausted else Status.FAILED,
        last_error=f"{type(error).__name__}: {error}"[:2000],
        next_attempt_at=None if exhausted else timezone.now() + timedelta(seconds=backoff),
    )
    logger.warning(
        "notification.failed",
        extra={
            "notification_id": notification.pk,
            "kind": notification.kind,
            "attempts": notification.attempts,
            "abandoned": exhausted,
        },
    )


def notifications_due(*, now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.NOTIFICATION_STALE_SENDING_SECONDS)
    return list(
        Notification.objects.filter(
            Q(status=Status.FAILED, next_attempt_at__lte=now)
            | Q(status=Status.SENDING, attempt_started_at__lt=stale_before)
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)
    )


def notifications_retry(*, limit: int = 100) -> str:
    """The retry schedule's job: sends again the messages whose backoff has elapsed."""
    sent = failed = 0
    for notification_id in notifications_due()[:limit]:
        try:
            notification_send(notification_id=notification_id)
            sent += 1
        except NotificationSendError:
            failed += 1
    return f"{sent} notifications retried and sent, {failed} failed again."
