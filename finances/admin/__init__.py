from finances.admin import (  # noqa: F401
    balances,
    disputes,
    operator_actions,
    plans,
    purchases,
    subscriptions,
    webhooks,
)
