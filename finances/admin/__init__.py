from finances.admin import (  # noqa: F401
    balances,
    disputes,
    families,
    operator_actions,
    plans,
    purchases,
    subscriptions,
    webhooks,
)
