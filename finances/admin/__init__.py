from finances.admin import balances, plans, purchases, webhooks  # noqa: F401
