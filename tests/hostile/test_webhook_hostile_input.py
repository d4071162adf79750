"""Hostile bodies for POST /api/finances/webhooks/stripe/ (hypothesis).

Properties, whatever arrives: never a 5xx; every answer that is not 2xx is the error
envelope; anything not correctly signed stores nothing at all; and a signed event that is
malformed (or a field of the wrong type) never changes a purchase or the hours ledger.
Signature-header variants, replays and future timestamps: test_webhook_hostile_signatures.py.
"""

import hashlib
import hmac
import time
import uuid

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import example, given
from hypothesis import strategies as st

from finances.models import HoursLedgerEntry, PurchaseTransaction
from tests.factories import PurchaseTransactionFactory
from tests.support.hostile_input_helpers import (
    assert_error_envelope,
    assert_no_server_error,
    hostile_settings,
    json_bytes,
    json_values,
    store_snapshot,
    wrong_json_values,
)
from tests.support.payments import purchase_pay
from tests.support.stripe_events import TEST_WEBHOOK_SECRET, WEBHOOK_URL, sign
from tests.support.webhook_pipeline_helpers import refunded_event, succeeded_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def purchase():
    """A pending purchase: a genuine success event for it would credit 600 minutes."""
    return PurchaseTransactionFactory()


@pytest.fixture
def completed_purchase():
    """A paid purchase: a genuine full refund event for it would take its hours back."""
    purchase = PurchaseTransactionFactory()
    purchase_pay(purchase)
    return purchase


def post_raw(client, body: bytes, signature: str | None, **extra):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return client.generic(
        "POST", WEBHOOK_URL, body, content_type="application/json", **headers, **extra
    )


def signature_for(body: bytes, *, timestamp: int | None = None) -> str:
    """What Stripe would send: the suite's `sign` for UTF-8 text, the same HMAC over the raw
    bytes for a body that is not UTF-8 (which `sign` cannot take)."""
    try:
        return sign(body.decode("utf-8"), timestamp=timestamp)
    except UnicodeDecodeError:
        timestamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(
            TEST_WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        )
        return f"t={timestamp},v1={digest.hexdigest()}"


def assert_payments_unchanged(before, after) -> None:
    assert after.purchases == before.purchases
    assert after.ledger_entries == before.ledger_entries
    assert after.balances == before.balances
    assert after.users == before.users


def assert_refused_unsigned(response, before) -> None:
    assert_error_envelope(response, status=400, code="invalid_signature")
    assert store_snapshot() == before


# --- Arbitrary bytes and arbitrary JSON ---------------------------------------------------


@hostile_settings(60)
@given(body=st.binary(max_size=4096), header=st.none() | st.text(max_size=120))
@example(body=b"", header=None)
@example(body=b'{"id": "evt_1", "type": "payment_intent.succeeded"}', header="")
def test_unsigned_bytes_are_refused_and_store_nothing(client, purchase, body, header):
    before = store_snapshot()

    response = post_raw(client, body, header)

    assert_refused_unsigned(response, before)


@hostile_settings(60)
@given(body=st.binary(max_size=4096))
@example(body=b"\xff\xfe\x00garbage")
@example(body=b"null")
@example(body=b'{"id": "evt_x", "type": "payment_intent.succeeded", "data": {"object": []}}')
def test_signed_bytes_never_cause_a_server_error_nor_a_payment(client, purchase, body):
    before = store_snapshot()

    response = post_raw(client, body, signature_for(body))

    assert_no_server_error(response)
    assert_payments_unchanged(before, store_snapshot())


def event_shaped(values):
    """Stripe-looking envelopes whose parts are arbitrary JSON."""
    return st.fixed_dictionaries(
        {
            "id": st.one_of(st.builds(lambda: f"evt_hostile_{uuid.uuid4().hex}"), values),
            "type": st.one_of(
                st.sampled_from(
                    [
                        "payment_intent.succeeded",
                        "payment_intent.payment_failed",
                        "payment_intent.canceled",
                        "payment_intent.processing",
                        "charge.refunded",
                    ]
                ),
                values,
            ),
            "data": st.one_of(st.fixed_dictionaries({"object": values}), values),
        },
        optional={"created": values, "livemode": values, "api_version": values},
    )


# Committing for real: on PostgreSQL a refused lone surrogate aborts the enclosing transaction
# (the upsert has no savepoint), which would end a rolled-back test at the first one.
@pytest.mark.django_db(transaction=True)
@hostile_settings(80)
@given(document=st.one_of(json_values, event_shaped(json_values)), ensure_ascii=st.booleans())
@example(document={"id": "evt_\ud800", "type": "x", "data": {"object": {}}}, ensure_ascii=True)
@example(document={"id": "evt_nul\x00", "type": "x", "data": {"object": {}}}, ensure_ascii=True)
@example(
    document={"id": "evt_😀\u202e", "type": "שלום", "data": {"object": {"x": "\ud800"}}},
    ensure_ascii=False,
)
def test_signed_json_never_causes_a_server_error_nor_a_payment(
    client, purchase, document, ensure_ascii
):
    body = json_bytes(document, ensure_ascii=ensure_ascii)
    before = store_snapshot()

    unsigned = post_raw(client, body, None)
    assert_refused_unsigned(unsigned, before)

    response = post_raw(client, body, signature_for(body))

    assert_no_server_error(response)
    assert_payments_unchanged(before, store_snapshot())


@pytest.mark.django_db(transaction=True)  # as above: PostgreSQL refuses the row
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_a_signed_event_are_refused_without_a_server_error(client, number):
    purchase = PurchaseTransactionFactory()
    body = (
        f'{{"id": "evt_nonfinite_{uuid.uuid4().hex}", "type": "payment_intent.created", '
        f'"data": {{"object": {{"id": "{purchase.stripe_payment_intent_id}", '
        f'"description": {number}}}}}}}'
    ).encode()
    before = store_snapshot()

    response = post_raw(client, body, signature_for(body))

    # json.loads accepts these tokens, but no database can store them as JSON.
    assert_error_envelope(response, status=400, code="malformed_event")
    assert store_snapshot() == before


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_get_the_405_envelope_and_store_nothing(client, purchase, method):
    body = json_bytes(succeeded_event(purchase))
    before = store_snapshot()

    response = client.generic(
        method,
        WEBHOOK_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_for(body),
    )

    assert_error_envelope(response, status=405, code="method_not_allowed")
    assert store_snapshot() == before


# --- Deep nesting and size ----------------------------------------------------------------


def nested_json(depth: int, shape: str, closed: bool) -> str:
    if shape == "array":
        return "[" * depth + ("]" * depth if closed else "")
    return '{"a":' * depth + "0" + ("}" * depth if closed else "")


@hostile_settings(40)
@given(
    depth=st.one_of(st.integers(1, 2_000), st.integers(900, 1_100), st.integers(2_000, 20_000)),
    shape=st.sampled_from(["array", "object"]),
    closed=st.booleans(),
    inside_event=st.booleans(),
    signed=st.booleans(),
)
@example(depth=10_000, shape="array", closed=False, inside_event=False, signed=True)
@example(depth=10_000, shape="array", closed=True, inside_event=True, signed=True)
@example(depth=10_000, shape="object", closed=True, inside_event=False, signed=False)
def test_deeply_nested_json_never_causes_a_server_error(
    client, purchase, depth, shape, closed, inside_event, signed
):
    nested = nested_json(depth, shape, closed)
    if inside_event:
        nested = (
            f'{{"id": "evt_deep_{uuid.uuid4().hex}", "type": "payment_intent.succeeded", '
            f'"data": {{"object": {{"id": "{purchase.stripe_payment_intent_id}", '
            f'"nested": {nested}}}}}}}'
        )
    body = nested.encode()
    before = store_snapshot()

    response = post_raw(client, body, signature_for(body) if signed else None)

    assert_no_server_error(response)
    if signed:
        assert_payments_unchanged(before, store_snapshot())
    else:
        assert_refused_unsigned(response, before)


def event_of_size(size: int) -> bytes:
    """An unhandled event carrying a huge array of zeros, exactly `size` bytes long."""
    head = (
        f'{{"id": "evt_huge_{uuid.uuid4().hex}", "type": "hostile.huge_array", '
        '"data": {"object": {"items": ['
    )
    tail = "]}}}"
    room = size - len(head) - len(tail)
    items = ",".join(["0"] * ((room + 1) // 2))
    body = (head + items + " " * (room - len(items)) + tail).encode()
    assert len(body) == size
    return body


@hostile_settings(12)
@given(
    delta=st.integers(min_value=-2048, max_value=2048),
    signed=st.booleans(),
    # (A Content-Length larger than the body cannot be sent through the test client.)
    declared=st.sampled_from(["exact", "zero", "half"]),
)
@example(delta=0, signed=True, declared="exact")
@example(delta=1, signed=True, declared="exact")
@example(delta=1, signed=False, declared="exact")
@example(delta=100_000, signed=True, declared="half")
def test_bodies_around_the_size_cap_are_accepted_only_below_it(
    client, purchase, delta, signed, declared
):
    limit = django_settings.WEBHOOK_MAX_BODY_BYTES
    body = event_of_size(limit + delta)
    content_length = {"exact": len(body), "zero": 0, "half": len(body) // 2}[declared]
    before = store_snapshot()

    response = post_raw(
        client,
        body,
        signature_for(body) if signed else None,
        CONTENT_LENGTH=str(content_length),
    )

    assert_no_server_error(response)
    assert_payments_unchanged(before, store_snapshot())
    if content_length > limit:
        assert_error_envelope(response, status=413, code="payload_too_large")
        assert store_snapshot() == before
    elif not signed or declared != "exact":
        # Unsigned, or cut short by its Content-Length so the signature no longer matches.
        assert_refused_unsigned(response, before)
    else:
        assert response.status_code == 200, response.content[:300]
        assert response.json()["status"] == "IGNORED"
        assert store_snapshot().webhook_events == before.webhook_events + 1


# --- Signed Stripe events with a field of the wrong type ----------------------------------

# (event type, path of the field, the JSON types Stripe sends there). The processing reads
# each of these to decide; a value of any other type must change no purchase and no hours.
DECISION_FIELDS = [
    ("payment_intent.succeeded", ("id",), (str,)),
    ("payment_intent.succeeded", ("type",), (str,)),
    ("payment_intent.succeeded", ("created",), (int, None)),
    ("payment_intent.succeeded", ("api_version",), (str, None)),
    ("payment_intent.succeeded", ("data",), (dict,)),
    ("payment_intent.succeeded", ("data", "object"), (dict,)),
    ("payment_intent.succeeded", ("data", "object", "id"), (str,)),
    ("payment_intent.succeeded", ("data", "object", "amount"), (int,)),
    ("payment_intent.succeeded", ("data", "object", "amount_received"), (int, None)),
    ("payment_intent.succeeded", ("data", "object", "currency"), (str,)),
    ("payment_intent.succeeded", ("data", "object", "status"), (str,)),
    ("payment_intent.succeeded", ("data", "object", "created"), (int, None)),
    ("payment_intent.succeeded", ("data", "object", "latest_charge"), (str, dict, None)),
    ("payment_intent.succeeded", ("data", "object", "client_secret"), (str, None)),
    ("payment_intent.succeeded", ("data", "object", "livemode"), (bool,)),
    ("payment_intent.succeeded", ("data", "object", "metadata"), (dict,)),
    ("charge.refunded", ("data", "object", "id"), (str,)),
    ("charge.refunded", ("data", "object", "amount"), (int,)),
    ("charge.refunded", ("data", "object", "amount_refunded"), (int, None)),
    ("charge.refunded", ("data", "object", "currency"), (str,)),
    ("charge.refunded", ("data", "object", "payment_intent"), (str, None)),
    ("charge.refunded", ("data", "object", "created"), (int, None)),
    ("charge.refunded", ("data", "object", "livemode"), (bool,)),
    ("charge.refunded", ("data", "object", "metadata"), (dict,)),
]

# Fields the processing does not decide with: a wrong type there may be ignored, but the
# event must then do exactly what the well-typed event does (one credit, right amount).
INFORMATIONAL_FIELDS = [
    ("payment_intent.succeeded", ("object",), (str,)),
    ("payment_intent.succeeded", ("livemode",), (bool,)),
    ("payment_intent.succeeded", ("data", "object", "object"), (str,)),
    ("payment_intent.succeeded", ("data", "object", "customer"), (str, dict, None)),
    ("payment_intent.succeeded", ("data", "object", "last_payment_error"), (dict, None)),
]


def field_id(field) -> str:
    return f"{field[0]}:{'.'.join(field[1])}"


def genuine_event(event_type: str, purchase, completed_purchase) -> dict:
    if event_type == "charge.refunded":
        target = completed_purchase
        document = refunded_event(target, refunded_total_cents=target.amount_cents)
    else:
        document = succeeded_event(purchase)
    document["id"] = f"evt_wrong_type_{uuid.uuid4().hex}"
    document["object"] = "event"
    document["data"]["object"].setdefault("client_secret", None)
    return document


def with_value(document: dict, path: tuple, value) -> dict:
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


def post_signed(client, document: dict):
    body = json_bytes(document)
    return post_raw(client, body, signature_for(body))


@pytest.mark.parametrize("event_type", ["payment_intent.succeeded", "charge.refunded"])
def test_the_genuine_events_used_below_do_change_payments(
    client, purchase, completed_purchase, event_type
):
    before = store_snapshot()

    response = post_signed(client, genuine_event(event_type, purchase, completed_purchase))

    assert response.status_code == 200, response.content
    assert store_snapshot().ledger_entries == before.ledger_entries + 1


@pytest.mark.parametrize("field", DECISION_FIELDS, ids=field_id)
@hostile_settings(8)
@given(data=st.data())
def test_a_signed_event_with_a_decision_field_of_the_wrong_type_changes_nothing(
    client, purchase, completed_purchase, field, data
):
    event_type, path, allowed = field
    value = data.draw(wrong_json_values(allowed), label=".".join(path))
    document = with_value(genuine_event(event_type, purchase, completed_purchase), path, value)
    before = store_snapshot()

    response = post_signed(client, document)

    assert_no_server_error(response)
    assert response.status_code == 400 or response.json()["status"] != "PROCESSED", response.content
    assert_payments_unchanged(before, store_snapshot())


@pytest.mark.parametrize("field", INFORMATIONAL_FIELDS, ids=field_id)
@hostile_settings(8)
@given(data=st.data())
def test_a_wrong_type_in_an_informational_field_never_credits_more_than_the_plan(
    client, purchase, completed_purchase, field, data
):
    event_type, path, allowed = field
    value = data.draw(wrong_json_values(allowed), label=".".join(path))
    document = with_value(genuine_event(event_type, purchase, completed_purchase), path, value)

    response = post_signed(client, document)

    assert_no_server_error(response)
    purchase.refresh_from_db()
    credits = HoursLedgerEntry.objects.filter(
        purchase_transaction=purchase, entry_type=HoursLedgerEntry.EntryType.CREDIT
    )
    if response.status_code == 200 and response.json()["status"] == "PROCESSED":
        assert purchase.status == PurchaseTransaction.Status.COMPLETED
        assert list(credits.values_list("minutes", "amount_cents")) == [
            (purchase.minutes, purchase.amount_cents)
        ]
    else:
        # Signed but unreadable: recorded FAILED for a person (200, so Stripe stops
        # resending it), or refused when it cannot even be read.
        if response.status_code == 200:
            assert response.json()["status"] == "FAILED", response.content
        else:
            assert_error_envelope(response, status=400)
        assert credits.count() <= 1
