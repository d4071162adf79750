from finances.admin import balances, disputes, plans, purchases, webhooks  # noqa: F401
