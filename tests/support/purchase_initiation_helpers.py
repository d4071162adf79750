"""Shared pieces for the purchase-initiation tests: a FakeStripeServer wired into the
settings, the Stripe failures it can play, and request/response helpers."""

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from finances.errors import (
    IdempotencyConflict,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderMisconfigured,
    PaymentProviderObjectNotFound,
    PaymentProviderUnavailable,
)
from tests.support.fake_stripe import FakeStripeServer

INITIATE_URL = "/api/finances/purchase/initiate/"


@contextlib.contextmanager
def fake_stripe_running(settings) -> Iterator[FakeStripeServer]:
    """A FakeStripeServer that the gateway talks to for the duration of the block."""
    server = FakeStripeServer().start()
    settings.STRIPE_API_BASE = server.api_base
    try:
        yield server
    finally:
        server.stop()


def payment_intent_body(
    *,
    payment_intent_id: str = "pi_fake_000001",
    amount: int = 14000,
    currency: str = "eur",
    metadata: dict | None = None,
    status: str = "requires_payment_method",
) -> dict:
    """A PaymentIntent as Stripe answers a create (current API shape)."""
    return {
        "id": payment_intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": 0,
        "currency": currency,
        "status": status,
        "livemode": False,
        "metadata": metadata or {},
        "client_secret": f"{payment_intent_id}_secret_fake",
        "customer": None,
        "created": int(time.time()),
        "latest_charge": None,
    }


def form_fields(body: str) -> dict[str, str]:
    """The form-encoded body the Stripe SDK sent, as a flat dict (`metadata[plan_id]`...)."""
    return dict(parse_qsl(body, keep_blank_values=True))


def answer_after_first_request(server: FakeStripeServer, *, status: int, body: dict) -> None:
    """Changes the canned answer once the first request has arrived, so that request keeps
    the (slow) answer it was given and the following ones get this one."""

    def switch() -> None:
        deadline = time.monotonic() + 10
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        server.respond(status, body)

    threading.Thread(target=switch, daemon=True).start()


@dataclass(frozen=True)
class StripeFailure:
    """One way Stripe can answer badly, and what our code must turn it into."""

    status: int
    error_type: str
    error_fields: dict
    expected_error: type[PaymentProviderError]
    expected_code: str
    expected_http_status: int
    expected_retry_after: str | None = None

    def play(self, server: FakeStripeServer) -> None:
        server.respond_with_error(self.status, self.error_type, **self.error_fields)


STRIPE_FAILURES = {
    "card_declined_402": StripeFailure(
        402,
        "card_error",
        {"code": "card_declined"},
        PaymentDeclined,
        "payment_declined",
        402,
    ),
    "invalid_request_400": StripeFailure(
        400,
        "invalid_request_error",
        {"code": "parameter_invalid_integer", "param": "amount"},
        PaymentProviderError,
        "payment_provider_rejected",
        502,
    ),
    "not_found_404": StripeFailure(
        404,
        "invalid_request_error",
        {"code": "resource_missing"},
        PaymentProviderObjectNotFound,
        "payment_provider_object_not_found",
        404,
    ),
    "bad_api_key_401": StripeFailure(
        401,
        "invalid_request_error",
        {},
        PaymentProviderMisconfigured,
        "payment_provider_misconfigured",
        503,
    ),
    "permission_403": StripeFailure(
        403,
        "invalid_request_error",
        {},
        PaymentProviderMisconfigured,
        "payment_provider_misconfigured",
        503,
    ),
    "rate_limited_429": StripeFailure(
        429,
        "invalid_request_error",
        {"code": "rate_limit"},
        PaymentProviderUnavailable,
        "payment_provider_unavailable",
        503,
        expected_retry_after="5",
    ),
    "server_error_500": StripeFailure(
        500,
        "api_error",
        {},
        PaymentProviderUnavailable,
        "payment_provider_unavailable",
        503,
        expected_retry_after="30",
    ),
    # Stripe answers a key reused with other parameters with 400 idempotency_error ...
    "idempotency_key_reused_400": StripeFailure(
        400,
        "idempotency_error",
        {},
        IdempotencyConflict,
        "idempotency_conflict",
        409,
    ),
    # ... and a request racing another with the same key with 409, which the SDK reports
    # as an APIError: trying again later is the right answer.
    "idempotency_409": StripeFailure(
        409,
        "idempotency_error",
        {},
        PaymentProviderUnavailable,
        "payment_provider_unavailable",
        503,
        expected_retry_after="30",
    ),
}
