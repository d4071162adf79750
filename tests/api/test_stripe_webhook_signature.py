"""What the webhook endpoint refuses before anything is recorded or processed."""

import hashlib
import hmac
import json
import time

import pytest
import time_machine
from rest_framework.test import APIClient

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.webhooks import unidentified_event_id
from tests.factories import PurchaseTransactionFactory, UserFactory
from tests.support.stripe_events import TEST_WEBHOOK_SECRET, WEBHOOK_URL, post_event, sign
from tests.support.webhook_pipeline_helpers import assert_error_envelope, succeeded_event

pytestmark = pytest.mark.django_db

TOLERANCE = 300  # settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS default


@pytest.fixture
def frozen():
    """Time stands still, so a timestamp N seconds off stays exactly N seconds off."""
    with time_machine.travel(int(time.time()), tick=False) as traveller:
        yield traveller


@pytest.fixture
def purchase():
    return PurchaseTransactionFactory()


@pytest.fixture
def document(purchase):
    """A genuine success for a pending purchase: accepting it would credit hours."""
    return succeeded_event(purchase)


def assert_nothing_happened(purchase) -> None:
    assert not WebhookEventLog.objects.exists()
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.PENDING
    assert purchase.paid_at is None
    assert not HoursLedgerEntry.objects.exists()


def post_raw(client, body: bytes, signature: str | None, **extra):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return client.generic(
        "POST", WEBHOOK_URL, body, content_type="application/json", **headers, **extra
    )


def hmac_header(body: bytes, *, secret: str = TEST_WEBHOOK_SECRET, timestamp: int | None = None):
    """Stripe's scheme computed over raw bytes (the SDK helper only signs text)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def test_a_correctly_signed_event_is_accepted_and_processed(api_client, purchase, document):
    response = post_event(api_client, document)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == WebhookEventLog.Status.PROCESSED
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED


def test_a_tampered_body_is_rejected(api_client, purchase, document):
    body = json.dumps(document)
    signature = sign(body)
    tampered = body.replace('"amount": 14000', '"amount": 14001')
    assert tampered != body

    response = post_event(api_client, tampered, signature=signature)

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


def test_a_body_signed_with_another_secret_is_rejected(api_client, purchase, document):
    response = post_event(api_client, document, secret="whsec_somebody_else")

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


@pytest.mark.parametrize("age_seconds", [TOLERANCE + 1, 3600, 86400 * 30])
def test_a_signature_older_than_the_tolerance_is_rejected(
    frozen, api_client, purchase, document, age_seconds
):
    response = post_event(api_client, document, timestamp=int(time.time()) - age_seconds)

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


@pytest.mark.parametrize("ahead_seconds", [TOLERANCE + 1, 3600, 86400 * 365])
def test_a_signature_from_the_future_is_rejected(
    frozen, api_client, purchase, document, ahead_seconds
):
    response = post_event(api_client, document, timestamp=int(time.time()) + ahead_seconds)

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


@pytest.mark.parametrize("offset_seconds", [-TOLERANCE, -1, 0, 1, TOLERANCE])
def test_a_signature_within_the_tolerance_either_side_is_accepted(
    frozen, api_client, purchase, document, offset_seconds
):
    response = post_event(api_client, document, timestamp=int(time.time()) + offset_seconds)

    assert response.status_code == 200, response.content
    assert WebhookEventLog.objects.get().status == WebhookEventLog.Status.PROCESSED


def test_a_signature_without_a_timestamp_is_rejected(api_client, purchase, document):
    body = json.dumps(document)
    signature_only = sign(body).split(",", 1)[1]  # "v1=..." with the "t=" part removed
    assert signature_only.startswith("v1=")

    response = post_event(api_client, body, signature=signature_only)

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


def test_a_request_without_the_signature_header_is_rejected(api_client, purchase, document):
    response = post_raw(api_client, json.dumps(document).encode(), signature=None)

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=",
        "t=abc,v1=def",
        "t=-5,v1=abc",
        "t=\uff11\uff12\uff13,v1=abc",  # full-width digits
        "t={now},v1=",
        "t={now},v1=not-hex",
        "t={now},v0=abc",
        "t={now},v1",
        "t={now}," + "v1=a," * 500,
    ],
)
def test_a_garbage_signature_header_is_rejected(api_client, purchase, document, header):
    body = json.dumps(document).encode()

    response = post_raw(api_client, body, signature=header.format(now=int(time.time())))

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


def test_a_signature_with_non_ascii_characters_is_rejected_not_a_server_error(
    api_client, purchase, document
):
    # A header is bytes on the wire; WSGI hands it over as latin-1 text, so "é" can arrive.
    header = f"t={int(time.time())},v1=\u00e9"

    response = post_raw(api_client, json.dumps(document).encode(), signature=header)

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


def test_during_a_secret_rotation_both_secrets_are_accepted(settings, api_client):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_old_secret", "whsec_new_secret"]
    by_old, by_new = PurchaseTransactionFactory(), PurchaseTransactionFactory()

    old = post_event(api_client, succeeded_event(by_old), secret="whsec_old_secret")
    new = post_event(api_client, succeeded_event(by_new), secret="whsec_new_secret")

    assert (old.status_code, new.status_code) == (200, 200)
    for purchase in (by_old, by_new):
        purchase.refresh_from_db()
        assert purchase.status == PurchaseTransaction.Status.COMPLETED


def test_during_a_secret_rotation_a_third_secret_is_still_rejected(
    settings, api_client, purchase, document
):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_old_secret", "whsec_new_secret"]

    response = post_event(api_client, document, secret=TEST_WEBHOOK_SECRET)

    assert_error_envelope(response, 400, "invalid_signature")
    assert_nothing_happened(purchase)


def test_the_endpoint_needs_no_csrf_token_even_with_a_logged_in_session(purchase, document):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory())

    response = post_event(client, document)

    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED


class TestBodySizeCap:
    def test_a_body_at_the_cap_is_accepted(self, settings, api_client, purchase, document):
        body = json.dumps(document)
        settings.WEBHOOK_MAX_BODY_BYTES = len(body.encode())

        response = post_event(api_client, body)

        assert response.status_code == 200, response.content

    def test_a_body_one_byte_over_the_cap_is_refused(
        self, settings, api_client, purchase, document
    ):
        body = json.dumps(document)
        settings.WEBHOOK_MAX_BODY_BYTES = len(body.encode()) - 1

        response = post_event(api_client, body)

        assert_error_envelope(response, 413, "payload_too_large")
        assert_nothing_happened(purchase)

    def test_a_declared_length_over_the_cap_is_refused_before_reading(
        self, settings, api_client, purchase, document
    ):
        settings.WEBHOOK_MAX_BODY_BYTES = 1000
        body = json.dumps(document).encode()
        assert len(body) < 1000

        response = post_raw(api_client, body, sign(body.decode()), CONTENT_LENGTH="5000000")

        assert_error_envelope(response, 413, "payload_too_large")
        assert_nothing_happened(purchase)

    def test_an_actually_large_body_is_refused(self, settings, api_client, purchase, document):
        settings.WEBHOOK_MAX_BODY_BYTES = 2048
        document["padding"] = "x" * 10_000  # still a correctly signed event

        response = post_event(api_client, document)

        assert_error_envelope(response, 413, "payload_too_large")
        assert_nothing_happened(purchase)

    def test_a_large_body_behind_a_length_the_quick_check_cannot_read_is_refused(
        self, settings, api_client, purchase, document
    ):
        # " 12000" is not all digits, so only reading the body can tell it is too large.
        settings.WEBHOOK_MAX_BODY_BYTES = 2048
        document["padding"] = "x" * 10_000
        body = json.dumps(document).encode()

        response = post_raw(api_client, body, sign(body.decode()), CONTENT_LENGTH=f" {len(body)}")

        assert_error_envelope(response, 413, "payload_too_large")
        assert_nothing_happened(purchase)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_methods_other_than_post_are_not_allowed(api_client, purchase, document, method):
    body = json.dumps(document)
    response = api_client.generic(
        method.upper(),
        WEBHOOK_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body),
    )

    assert_error_envelope(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"
    assert_nothing_happened(purchase)


def test_a_signed_body_that_is_not_json_is_a_malformed_event(api_client, purchase):
    response = post_event(api_client, '{"id": "evt_1", "type": ')

    assert_error_envelope(response, 400, "malformed_event")
    assert_nothing_happened(purchase)


def _event_with(**changes) -> dict:
    document = {"id": "evt_shape", "type": "payment_intent.succeeded", "data": {"object": {}}}
    document.update(changes)
    return {key: value for key, value in document.items() if value is not ...}


@pytest.mark.parametrize(
    "body",
    ["", " ", "NaN", "[" * 100_000 + "]" * 100_000],
    ids=["empty", "blank", "NaN", "nested-too-deep"],
)
def test_a_signed_body_that_is_not_readable_json_is_a_malformed_event(
    settings, api_client, purchase, body
):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024 * 1024

    response = post_event(api_client, body)

    assert_error_envelope(response, 400, "malformed_event")
    assert_nothing_happened(purchase)


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '[{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}}]',
        '"payment_intent.succeeded"',
        "42",
        "null",
        "{}",
        json.dumps(_event_with(id=...)),
        json.dumps(_event_with(type=...)),
        json.dumps(_event_with(data=...)),
        json.dumps(_event_with(data={})),
        json.dumps(_event_with(data={"object": None})),
        json.dumps(_event_with(data={"object": []})),
        json.dumps(_event_with(data={"object": "pi_123"})),
        json.dumps(_event_with(data=[{"object": {}}])),
        json.dumps(_event_with(id=123)),
        json.dumps(_event_with(id="")),
        json.dumps(_event_with(id=None)),
        json.dumps(_event_with(type=["payment_intent.succeeded"])),
        json.dumps(_event_with(created="yesterday")),
        json.dumps(_event_with(created=10**20)),
        json.dumps(_event_with(id="evt_" + "x" * 300)),
    ],
    ids=lambda body: body[:40],
)
def test_signed_json_that_is_not_a_stripe_event_is_recorded_and_answered_200(
    api_client, purchase, body
):
    response = post_event(api_client, body)

    # Signed by Stripe, so Stripe would resend a 4xx for three days: record it for a person.
    assert (response.status_code, response.json()["status"]) == (200, "FAILED")
    row = WebhookEventLog.objects.get()
    assert row.error_message.startswith("Not a readable Stripe event: ")
    assert row.next_retry_at is None
    usable_id = body.startswith('{"id": "evt_shape"')
    expected_id = "evt_shape" if usable_id else unidentified_event_id(body.encode())
    assert row.stripe_event_id == expected_id
    purchase.refresh_from_db()
    assert (purchase.status, purchase.paid_at) == (PurchaseTransaction.Status.PENDING, None)
    assert not HoursLedgerEntry.objects.exists()


def test_the_same_unidentified_body_twice_is_one_row_with_two_deliveries(api_client, purchase):
    body = '{"type": "payment_intent.succeeded", "data": {"object": {}}}'

    first, second = post_event(api_client, body), post_event(api_client, body)

    assert first.status_code == second.status_code == 200
    row = WebhookEventLog.objects.get()
    assert (row.stripe_event_id, row.delivery_count, row.status) == (
        unidentified_event_id(body.encode()),
        2,
        "FAILED",
    )


def test_an_unreadable_body_with_a_known_event_id_leaves_that_event_alone(
    api_client, purchase, document
):
    post_event(api_client, document)
    before = WebhookEventLog.objects.values_list("status", "error_message", "payload").get()

    response = post_event(api_client, {"id": document["id"], "type": "garbled"})

    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert WebhookEventLog.objects.values_list("status", "error_message", "payload").get() == (
        before
    )


def test_a_signed_body_that_is_not_utf8_is_rejected(api_client, purchase):
    body = b'{"id": "evt_latin1", "type": "payment_intent.succeeded", "x": "\xe9\xff"}'
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")

    response = post_raw(api_client, body, hmac_header(body))

    # The spec asks for a 400; which of the two codes describes it best is the product's call.
    assert response.status_code == 400, response.content
    code = response.json()["error"]["code"]
    assert code in {"invalid_signature", "malformed_event"}
    assert_error_envelope(response, 400, code)
    assert_nothing_happened(purchase)


@pytest.mark.postgresql
def test_an_event_postgresql_cannot_store_is_rejected_without_a_server_error(
    api_client, purchase, document
):
    document["id"] = "evt_with_nul_\u0000_inside"

    response = post_event(api_client, document)

    assert_error_envelope(response, 400, "malformed_event")
    assert_nothing_happened(purchase)
