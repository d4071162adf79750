"""The only module that imports `stripe`.

Every call maps `StripeError`s to our own errors (`finances.errors`), refuses to run
inside a database transaction, and returns our own dataclasses, so the rest of the code
never sees a Stripe object. Works against real Stripe and localstripe alike.
"""

import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import stripe
from django.conf import settings
from django.db import connection

from finances.errors import (
    IdempotencyConflict,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderMisconfigured,
    PaymentProviderObjectNotFound,
    PaymentProviderUnavailable,
    WebhookSignatureInvalid,
)
from finances.stripe_payloads import (
    MalformedStripeObject,
    PaymentIntentData,
    payment_intent_parse,
)
from finances.stripe_signature import signature_header_parse, signature_matches

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class RefundData:
    id: str
    payment_intent_id: str | None
    amount_cents: int
    status: str


def _translate_stripe_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Zulip's catch_stripe_errors idea: Stripe's error classes never leave this module."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except stripe.CardError as error:
            raise PaymentDeclined(error.user_message or "The card was declined.") from error
        except stripe.RateLimitError as error:
            _log_stripe_error(function, error)
            raise PaymentProviderUnavailable(retry_after_seconds=5) from error
        except (stripe.APIConnectionError, stripe.APIError) as error:
            _log_stripe_error(function, error)
            raise PaymentProviderUnavailable() from error
        except (stripe.AuthenticationError, stripe.PermissionError) as error:
            _log_stripe_error(function, error, level=logging.CRITICAL)
            raise PaymentProviderMisconfigured() from error
        except stripe.IdempotencyError as error:
            _log_stripe_error(function, error)
            raise IdempotencyConflict() from error
        except stripe.InvalidRequestError as error:
            _log_stripe_error(function, error)
            if error.http_status == 404:
                raise PaymentProviderObjectNotFound() from error
            raise PaymentProviderError(
                "The payment provider rejected the request.", code="payment_provider_rejected"
            ) from error
        except stripe.StripeError as error:
            _log_stripe_error(function, error)
            status = error.http_status or 0
            if status >= 500 or status == 0:
                raise PaymentProviderUnavailable() from error
            raise PaymentProviderError() from error

    return wrapper


def _log_stripe_error(function, error, level: int = logging.WARNING) -> None:
    logger.log(
        level,
        "stripe.call_failed",
        extra={
            "operation": function.__name__,
            "error_class": type(error).__name__,
            "http_status": getattr(error, "http_status", None),
            "stripe_code": getattr(error, "code", None),
            "request_id": getattr(error, "request_id", None),
        },
    )


def _assert_no_transaction_open() -> None:
    # Test cases wrap every test in a transaction of their own; those do not count.
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise RuntimeError("Stripe must never be called with a database transaction open.")


# The API version this SDK release was generated for (STRIPE_API_VERSION's default).
SDK_API_VERSION: str = stripe.api_version


@functools.lru_cache(maxsize=4)
def _client_for(
    api_key: str, api_base: str, timeout: float, retries: int, api_version: str
) -> stripe.StripeClient:
    # Built once per process and configuration: this is the start-up line that says which
    # Stripe API version every request of this process asks for.
    logger.info(
        "stripe.client_configured",
        extra={
            "api_base": api_base,
            "api_version": api_version,
            "sdk_version": stripe.VERSION,
            "sdk_api_version": SDK_API_VERSION,
        },
    )
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
        stripe_version=api_version,
    )


def stripe_client_prepare() -> None:
    """Builds this process's Stripe client (no request is made), which logs the pinned API
    version: the web server and the worker call it at start-up."""
    _client()


def _client() -> stripe.StripeClient:
    return _client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
        settings.STRIPE_MAX_NETWORK_RETRIES,
        settings.STRIPE_API_VERSION,
    )


def _payment_intent(value: Any) -> PaymentIntentData:
    return payment_intent_parse(value.to_dict())


@_translate_stripe_errors
def payment_intent_create(
    *,
    amount_cents: int,
    currency: str,
    metadata: dict[str, str],
    idempotency_key: str,
    description: str = "",
    receipt_email: str = "",
    payment_method_id: str | None = None,
    customer_id: str | None = None,
) -> PaymentIntentData:
    """Creates a PaymentIntent; with `payment_method_id` it is also confirmed in the same
    call (the storefront's flow: localstripe refuses `confirm(id, payment_method=…)`). A
    declined card raises `PaymentDeclined`; a card that asks for 3-D Secure comes back
    `requires_action`, which the browser completes with `confirmCardPayment`.
    `receipt_email` makes Stripe email its own receipt too: sent only when
    STRIPE_SEND_RECEIPT_EMAIL allows it, to a Stripe that takes optional parameters
    (localstripe rejects it)."""
    _assert_no_transaction_open()
    params: dict[str, Any] = {
        "amount": amount_cents,
        "currency": currency.lower(),
        "metadata": metadata,
    }
    if customer_id:  # the payer's Stripe Customer (families: the paying guardian)
        params["customer"] = customer_id
    if payment_method_id:
        # A card confirmed on the server: no redirect-based methods, so no return_url.
        params["payment_method"] = payment_method_id
        params["payment_method_types"] = ["card"]
        params["confirm"] = True
        if settings.STRIPE_SEND_OPTIONAL_PARAMETERS:
            params["use_stripe_sdk"] = True
    elif settings.STRIPE_SEND_OPTIONAL_PARAMETERS:
        params["automatic_payment_methods"] = {"enabled": True}
    else:
        params["payment_method_types"] = ["card"]
    if settings.STRIPE_SEND_OPTIONAL_PARAMETERS:
        if description:
            params["description"] = description
        if receipt_email and settings.STRIPE_SEND_RECEIPT_EMAIL:
            params["receipt_email"] = receipt_email
    result = _client().v1.payment_intents.create(
        params=params, options={"idempotency_key": idempotency_key}
    )
    return _payment_intent(result)


@_translate_stripe_errors
def payment_intent_retrieve(*, payment_intent_id: str) -> PaymentIntentData:
    _assert_no_transaction_open()
    result = _client().v1.payment_intents.retrieve(
        payment_intent_id, params={"expand": ["latest_charge"]}
    )
    return _payment_intent(result)


@_translate_stripe_errors
def payment_intent_cancel(
    *, payment_intent_id: str, idempotency_key: str, reason: str | None = None
) -> PaymentIntentData:
    """Cancels an unpaid PaymentIntent. `reason` (e.g. "abandoned") is sent only to a Stripe
    that accepts optional parameters: localstripe rejects `cancellation_reason`."""
    _assert_no_transaction_open()
    params: dict[str, Any] = {}
    if reason and settings.STRIPE_SEND_OPTIONAL_PARAMETERS:
        params["cancellation_reason"] = reason
    result = _client().v1.payment_intents.cancel(
        payment_intent_id, params=params, options={"idempotency_key": idempotency_key}
    )
    return _payment_intent(result)


@_translate_stripe_errors
def payment_intents_find_by_metadata(
    *, key: str, value: str, created_around: datetime, window: timedelta = timedelta(hours=2)
) -> list[PaymentIntentData]:
    """PaymentIntents whose metadata[key] == value, newest first.

    Real Stripe: the Search API (eventually consistent, about a minute behind). localstripe
    has no search and no list filters: its PaymentIntents are listed page by page and
    matched here, keeping those created within `window` of `created_around`.
    """
    _assert_no_transaction_open()
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", key) or not re.fullmatch(r"[A-Za-z0-9_\-]+", value):
        raise ValueError("metadata search terms must be plain identifiers")
    intents = _client().v1.payment_intents
    if settings.STRIPE_SEND_OPTIONAL_PARAMETERS:
        found = intents.search(params={"query": f"metadata['{key}']:'{value}'", "limit": 100})
        candidates = [item.to_dict() for item in found.auto_paging_iter()]
    else:
        earliest = int((created_around - window).timestamp())
        latest = int((created_around + window).timestamp())
        listed = (item.to_dict() for item in intents.list(params={"limit": 100}).auto_paging_iter())
        candidates = [
            item
            for item in listed
            if (item.get("metadata") or {}).get(key) == value
            and earliest <= (item.get("created") or 0) <= latest
        ]
    parsed = [payment_intent_parse(candidate) for candidate in candidates]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(parsed, key=lambda intent: intent.created_at or oldest, reverse=True)


@_translate_stripe_errors
def refund_create(
    *, payment_intent_id: str, amount_cents: int | None, idempotency_key: str
) -> RefundData:
    _assert_no_transaction_open()
    params: dict[str, Any] = {"payment_intent": payment_intent_id}
    if amount_cents is not None:
        params["amount"] = amount_cents
    result = _client().v1.refunds.create(
        params=params, options={"idempotency_key": idempotency_key}
    )
    return RefundData(
        id=result.id,
        payment_intent_id=payment_intent_id,
        amount_cents=result.amount,
        status=result.status,
    )


@_translate_stripe_errors
def refunded_amount_for_payment_intent(*, payment_intent_id: str) -> int:
    """Total of the succeeded (or pending) refunds of a PaymentIntent, in cents."""
    _assert_no_transaction_open()
    total = 0
    refunds = _client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
    for refund in refunds.auto_paging_iter():
        if refund.status in ("succeeded", "pending"):
            total += refund.amount
    return total


@_translate_stripe_errors
def events_list(*, created_after: int, page_size: int = 100) -> list[dict]:
    """Every event created after the given Unix time, as plain dicts, in any order."""
    _assert_no_transaction_open()
    page = _client().v1.events.list(params={"created": {"gt": created_after}, "limit": page_size})
    return [event.to_dict() for event in page.auto_paging_iter()]


@dataclass(frozen=True)
class WebhookEndpointData:
    id: str
    url: str
    enabled_events: tuple[str, ...]
    api_version: str | None
    created: bool  # False: an existing endpoint with this URL was found (and updated)
    updated: bool
    secret: str | None = None  # Stripe shows the signing secret only when creating


@_translate_stripe_errors
def webhook_endpoint_upsert(
    *, url: str, enabled_events: Sequence[str], api_version: str
) -> WebhookEndpointData:
    """The endpoint with this URL gets exactly `enabled_events`; created with `api_version`
    when there is none. Stripe cannot change an existing endpoint's API version: the caller
    compares the returned `api_version`."""
    _assert_no_transaction_open()
    endpoints = _client().v1.webhook_endpoints
    wanted = sorted(enabled_events)
    existing = next(
        (
            endpoint.to_dict()
            for endpoint in endpoints.list(params={"limit": 100}).auto_paging_iter()
            if endpoint.url == url
        ),
        None,
    )
    if existing is None:
        result = endpoints.create(
            params={"url": url, "enabled_events": wanted, "api_version": api_version},
            options={"idempotency_key": f"webhook-endpoint:{url}:{','.join(wanted)}"},
        ).to_dict()
        return _webhook_endpoint(result, created=True, updated=False)
    if sorted(existing.get("enabled_events") or []) == wanted:
        return _webhook_endpoint(existing, created=False, updated=False)
    result = endpoints.update(existing["id"], params={"enabled_events": wanted}).to_dict()
    return _webhook_endpoint(result, created=False, updated=True)


def _webhook_endpoint(document: dict, *, created: bool, updated: bool) -> WebhookEndpointData:
    if not isinstance(document.get("id"), str) or not isinstance(document.get("url"), str):
        raise MalformedStripeObject("a webhook endpoint needs an id and a url")
    return WebhookEndpointData(
        id=document["id"],
        url=document["url"],
        enabled_events=tuple(document.get("enabled_events") or ()),
        api_version=document.get("api_version"),
        created=created,
        updated=updated,
        secret=document.get("secret") if created else None,
    )


@_translate_stripe_errors
def account_check() -> None:
    """Raises unless Stripe answers an authenticated request with our key."""
    _assert_no_transaction_open()
    _client().v1.balance.retrieve()


def webhook_signature_header(*, payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for this body (test tooling)."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def webhook_payload_verify(
    *,
    payload: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    """Accepts a body signed by any of `secrets` within `tolerance_seconds` of now.

    The header is parsed once (`finances.stripe_signature`); the tolerance and the HMAC
    are checked against that one timestamp. Stripe's own check only rejects old
    timestamps; a timestamp from the future is rejected here too, so a captured
    signature cannot be pre-dated for later replay.
    """
    header = signature_header_parse(signature_header)
    now = time.time() if now is None else now
    if abs(now - header.timestamp) > tolerance_seconds:
        raise WebhookSignatureInvalid("The signature timestamp is outside the tolerance.")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WebhookSignatureInvalid("The event body is not UTF-8.") from error
    # Every configured secret is tried (rotation): old and new both verify meanwhile.
    # An empty secret would make the HMAC key public, so it never verifies anything.
    if not any(
        signature_matches(header=header, payload_text=text, secret=secret)
        for secret in secrets
        if secret
    ):
        raise WebhookSignatureInvalid()
