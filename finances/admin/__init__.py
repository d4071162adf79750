from finances.admin import balances, operator_actions, plans, purchases, webhooks  # noqa: F401
