"""Hypothesis strategies and checks shared by tests/hostile and tests/security.

- `hostile_settings(n)`: n examples, no deadline, no example database, health checks that
  only complain about pytest fixtures or slow data switched off.
- `hostile_text`, `json_values` (`storable_*`: without lone surrogates): text with NUL,
  lone surrogates (escaped as `\\ud800` by `json_bytes`), emoji, right-to-left and
  zero-width characters; recursive JSON.
- `store_snapshot()`: what the money flow has stored (users, purchases, ledger, balances,
  webhook events), to compare before and after a request.
- `assert_error_envelope` / `assert_no_server_error`: the answer's shape.
"""

import json
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from accounts.models import User
from finances.models import (
    HoursLedgerEntry,
    PurchaseTransaction,
    StudentAccountBalance,
    WebhookEventLog,
)


def hostile_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


SPECIAL_STRINGS = (
    "\x00",
    "nul\x00inside",
    "\ud800",  # a lone surrogate: only representable in JSON text as an escape
    "\udfff\ud800",
    "😀",
    "👩\u200d👩\u200d👧",
    "\u202eevil\u202c",  # right-to-left override
    "مرحبا بالعالم",
    "שלום",
    "\u200b\u200c\u200d",
    "\ufeff",
    "e\u0301",
    "\U0001d518\U0001d52b\U0001d526",  # Fraktur "Uni"
    "\uffff\U0010ffff",
    "'; DROP TABLE finances_purchasetransaction; --",
    "{{7*7}}<script>alert(1)</script>",
    "",
)

hostile_text = st.one_of(
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=40),
    st.text(
        alphabet=st.one_of(st.sampled_from("".join(SPECIAL_STRINGS)), st.characters()),
        max_size=40,
    ),
)
# Without lone surrogates: text PostgreSQL can store (when a test is about types, not text).
storable_text = hostile_text.filter(lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text))


def json_values_of(text):
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False, allow_infinity=False),
        text,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(text, children, max_size=4),
        ),
        max_leaves=12,
    )


json_values = json_values_of(hostile_text)
storable_json_values = json_values_of(storable_text)


def json_bytes(value, *, ensure_ascii: bool = True) -> bytes:
    """JSON text of `value` as UTF-8. Lone surrogates can only travel escaped (`\\ud800`),
    so without `ensure_ascii` a value that has one is escaped all the same."""
    if not ensure_ascii:
        try:
            return json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            pass
    return json.dumps(value).encode("ascii")


def is_json_type(value, allowed: tuple) -> bool:
    """True when `value` has one of the JSON types in `allowed` (bool is not an int)."""
    for kind in allowed:
        if kind is None and value is None:
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind in (str, dict, list, bool) and isinstance(value, kind):
            return True
    return False


def wrong_json_values(allowed: tuple):
    """Storable JSON values of any type but those in `allowed`."""
    return storable_json_values.filter(lambda value: not is_json_type(value, allowed))


@dataclass(frozen=True)
class StoreSnapshot:
    users: tuple
    purchases: tuple
    ledger_entries: int
    balances: tuple
    webhook_events: int


def store_snapshot() -> StoreSnapshot:
    return StoreSnapshot(
        users=tuple(User.objects.order_by("pk").values_list("pk", "email", "name", "is_staff")),
        purchases=tuple(
            PurchaseTransaction.objects.order_by("pk").values_list(
                "pk",
                "status",
                "amount_cents",
                "minutes",
                "paid_at",
                "refunded_amount_cents",
                "needs_review",
                "review_reason",
                "failure_reason",
                "stripe_payment_intent_id",
            )
        ),
        ledger_entries=HoursLedgerEntry.objects.count(),
        balances=tuple(
            StudentAccountBalance.objects.order_by("pk").values_list(
                "pk", "purchased_minutes", "remaining_minutes", "paid_cents", "refunded_cents"
            )
        ),
        webhook_events=WebhookEventLog.objects.count(),
    )


def assert_error_envelope(response, *, status: int | None = None, code: str | None = None):
    """`{"error": {"code": str, "message": str, "fields"?: {...}}}` and nothing else."""
    if status is not None:
        assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "fields"}, error
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    if "fields" in error:
        assert isinstance(error["fields"], dict)
        assert error["fields"]
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_no_server_error(response) -> None:
    """Never a 5xx, and every answer that is not a success is the error envelope."""
    assert response.status_code < 500, response.content[:500]
    if not 200 <= response.status_code < 300:
        assert_error_envelope(response)
