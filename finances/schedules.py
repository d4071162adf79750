"""The product's periodic jobs, in code: `manage.py sync_schedules` creates or updates one
django-q2 schedule per line (by name), so adding a job here is one line.

Each line: (schedule name, dotted path of the function the worker calls with no arguments,
name of the setting holding its interval in minutes). The function may be a task of
`finances/tasks.py` or a service whose keyword arguments all have defaults.
"""

SCHEDULES: list[tuple[str, str, str]] = [
    (
        "webhook_events_retry",
        "finances.tasks.webhook_events_retry_task",
        "SCHEDULE_WEBHOOK_EVENTS_RETRY_MINUTES",
    ),
    (
        "payments_reconcile",
        "finances.tasks.payments_reconcile_task",
        "SCHEDULE_PAYMENTS_RECONCILE_MINUTES",
    ),
    (
        "abandoned_checkouts_expire",
        "finances.tasks.abandoned_checkouts_expire_task",
        "SCHEDULE_ABANDONED_CHECKOUTS_EXPIRE_MINUTES",
    ),
    ("packages_expire", "finances.tasks.packages_expire_task", "SCHEDULE_PACKAGES_EXPIRE_MINUTES"),
    (
        "expiry_reminders",
        "finances.tasks.expiry_reminders_task",
        "SCHEDULE_EXPIRY_REMINDERS_MINUTES",
    ),
    (
        "notifications_retry",
        "notifications.services.notifications_retry",
        "SCHEDULE_NOTIFICATIONS_RETRY_MINUTES",
    ),
    (
        "subscriptions_reconcile",
        "finances.services.subscription_reconciliation.subscriptions_reconcile_task",
        "SCHEDULE_PAYMENTS_RECONCILE_MINUTES",
    ),
    (
        "purchase_requests_expire",
        "finances.services.family_requests.purchase_requests_expire",
        "SCHEDULE_PURCHASE_REQUESTS_EXPIRE_MINUTES",
    ),
    ("ledger_verify", "finances.tasks.ledger_verify_task", "SCHEDULE_LEDGER_VERIFY_MINUTES"),
]
