"""Typed views of Stripe objects, parsed defensively from plain dicts.

Webhook payloads and API results (`.to_dict()`) both come through here, in either shape
Stripe has used: `latest_charge` as an id (current API) or as an embedded charge with the
older `charges` list (localstripe, API 2017-08-15); v1 events and v2 "thin" events. A
value of the wrong type raises `MalformedStripeObject`, never a TypeError deep inside
business code.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class MalformedStripeObject(ValueError):
    pass


def _require_dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedStripeObject(f"{what} must be an object")
    return value


def _require_str(document: dict, key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedStripeObject(f"{key} must be a non-empty string")
    return value


def _optional_str(document: dict, key: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedStripeObject(f"{key} must be a string")
    return value


def _optional_int(document: dict, key: str) -> int | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedStripeObject(f"{key} must be an integer")
    return value


def _require_int(document: dict, key: str) -> int:
    value = _optional_int(document, key)
    if value is None:
        raise MalformedStripeObject(f"{key} is required")
    return value


def _timestamp(document: dict, key: str) -> datetime | None:
    seconds = _optional_int(document, key)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise MalformedStripeObject(f"{key} is not a valid timestamp") from error


def _metadata(document: dict) -> dict[str, str]:
    if "metadata" not in document:
        return {}
    value = document["metadata"]
    if not isinstance(value, dict):
        raise MalformedStripeObject("metadata must be an object")
    return {str(key): str(item) for key, item in value.items() if isinstance(item, str | int)}


def _livemode(document: dict) -> bool:
    value = document.get("livemode", False)
    if not isinstance(value, bool):
        raise MalformedStripeObject("livemode must be a boolean")
    return value


@dataclass(frozen=True)
class ChargeData:
    id: str
    payment_intent_id: str | None
    amount_cents: int
    amount_refunded_cents: int
    currency: str
    livemode: bool
    status: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


def charge_parse(document: Any) -> ChargeData:
    document = _require_dict(document, "charge")
    amount_refunded = _optional_int(document, "amount_refunded") or 0
    amount = _require_int(document, "amount")
    if amount < 0 or amount_refunded < 0:
        raise MalformedStripeObject("charge amounts cannot be negative")
    return ChargeData(
        id=_require_str(document, "id"),
        payment_intent_id=_optional_str(document, "payment_intent"),
        amount_cents=amount,
        amount_refunded_cents=amount_refunded,
        currency=_require_str(document, "currency").upper(),
        livemode=_livemode(document),
        status=_optional_str(document, "status"),
        metadata=_metadata(document),
        created_at=_timestamp(document, "created"),
    )


@dataclass(frozen=True)
class PaymentIntentData:
    id: str
    status: str
    amount_cents: int
    amount_received_cents: int | None
    currency: str
    livemode: bool
    metadata: dict[str, str]
    client_secret: str | None = None
    customer_id: str | None = None
    failure_message: str | None = None
    latest_charge: ChargeData | None = None
    latest_charge_id: str | None = None
    created_at: datetime | None = None

    @property
    def collected_amount_cents(self) -> int:
        """What was actually taken: `amount_received` where Stripe reports it."""
        if self.amount_received_cents is not None:
            return self.amount_received_cents
        return self.amount_cents

    @property
    def succeeded_at(self) -> datetime | None:
        if self.status != "succeeded":
            return None
        if self.latest_charge is not None and self.latest_charge.created_at is not None:
            return self.latest_charge.created_at
        return None


def payment_intent_parse(document: Any) -> PaymentIntentData:
    document = _require_dict(document, "payment_intent")
    latest_charge_value = document.get("latest_charge")
    latest_charge = None
    latest_charge_id = None
    if isinstance(latest_charge_value, dict):
        latest_charge = charge_parse(latest_charge_value)
        latest_charge_id = latest_charge.id
    elif isinstance(latest_charge_value, str):
        latest_charge_id = latest_charge_value
        charges = document.get("charges")
        embedded = charges.get("data") if isinstance(charges, dict) else None
        if isinstance(embedded, list):
            for candidate in embedded:
                if isinstance(candidate, dict) and candidate.get("id") == latest_charge_id:
                    latest_charge = charge_parse(candidate)
    elif latest_charge_value is not None:
        raise MalformedStripeObject("latest_charge must be an id or an object")

    error = document.get("last_payment_error")
    failure_message = None
    if isinstance(error, dict):
        failure_message = _optional_str(error, "message") or _optional_str(error, "code")

    customer = document.get("customer")
    customer_id = customer if isinstance(customer, str) else None
    if isinstance(customer, dict):
        customer_id = _optional_str(customer, "id")

    amount = _require_int(document, "amount")
    if amount < 0:
        raise MalformedStripeObject("amount cannot be negative")
    return PaymentIntentData(
        id=_require_str(document, "id"),
        status=_require_str(document, "status"),
        amount_cents=amount,
        amount_received_cents=_optional_int(document, "amount_received"),
        currency=_require_str(document, "currency").upper(),
        livemode=_livemode(document),
        metadata=_metadata(document),
        client_secret=_optional_str(document, "client_secret"),
        customer_id=customer_id,
        failure_message=failure_message,
        latest_charge=latest_charge,
        latest_charge_id=latest_charge_id,
        created_at=_timestamp(document, "created"),
    )


class EnvelopeKind(StrEnum):
    EVENT = "EVENT"  # a v1 snapshot event: `data.object` holds the object
    THIN = "THIN"  # a v2 thin event: only a reference to the object, nothing to apply
    UNRECOGNISED = "UNRECOGNISED"  # signed JSON that is not an event we can read


@dataclass(frozen=True)
class EventEnvelope:
    id: str
    type: str
    api_version: str
    livemode: bool
    created_at: datetime | None
    data_object: dict
    object_id: str
    kind: EnvelopeKind = EnvelopeKind.EVENT
    problem: str = ""  # why an UNRECOGNISED body could not be read


def _event_identity(document: dict) -> tuple[str, str]:
    event_id = _require_str(document, "id")
    event_type = _require_str(document, "type")
    if len(event_id) > 255 or len(event_type) > 100:
        raise MalformedStripeObject("event id or type is too long")
    return event_id, event_type


def event_envelope_parse(document: Any) -> EventEnvelope:
    """A v1 event (`object: "event"`, `data.object`), or a v2 thin event."""
    document = _require_dict(document, "event")
    if document.get("object") == "v2.core.event":
        return thin_event_envelope_parse(document)
    data = _require_dict(document.get("data"), "data")
    data_object = _require_dict(data.get("object"), "data.object")
    event_id, event_type = _event_identity(document)
    object_id = data_object.get("id")
    return EventEnvelope(
        id=event_id,
        type=event_type,
        api_version=(_optional_str(document, "api_version") or "")[:32],
        livemode=_livemode(document),
        created_at=_timestamp(document, "created"),
        data_object=data_object,
        object_id=object_id[:255] if isinstance(object_id, str) else "",
    )


def _object_or_id(document: dict, key: str) -> tuple[str | None, dict | None]:
    """(id, embedded object) of a field Stripe sends as an id or, expanded, as an object."""
    value = document.get(key)
    if value is None:
        return None, None
    if isinstance(value, str):
        return value or None, None
    if isinstance(value, dict):
        return _optional_str(value, "id"), value
    raise MalformedStripeObject(f"{key} must be an id or an object")


@dataclass(frozen=True)
class RefundData:
    id: str
    amount_cents: int
    currency: str
    status: str | None
    payment_intent_id: str | None
    charge_id: str | None
    failure_reason: str | None = None


def refund_parse(document: Any) -> RefundData:
    """A Refund: `payment_intent` and `charge` as ids (current API) or the charge
    embedded (expanded, older integrations); an embedded charge names the PaymentIntent."""
    document = _require_dict(document, "refund")
    amount = _require_int(document, "amount")
    if amount < 0:
        raise MalformedStripeObject("refund amount cannot be negative")
    payment_intent_id, _ = _object_or_id(document, "payment_intent")
    charge_id, charge = _object_or_id(document, "charge")
    if payment_intent_id is None and charge is not None:
        payment_intent_id, _ = _object_or_id(charge, "payment_intent")
    return RefundData(
        id=_require_str(document, "id"),
        amount_cents=amount,
        currency=_require_str(document, "currency").upper(),
        status=_optional_str(document, "status"),
        payment_intent_id=payment_intent_id,
        charge_id=charge_id,
        failure_reason=_optional_str(document, "failure_reason"),
    )


@dataclass(frozen=True)
class DisputeData:
    id: str
    amount_cents: int
    currency: str
    status: str
    reason: str
    charge_id: str | None
    payment_intent_id: str | None
    evidence_due_by: datetime | None
    livemode: bool


def dispute_parse(document: Any) -> DisputeData:
    """A Dispute: `charge` an id (or an embedded charge in older integrations),
    `payment_intent` present only in newer API versions."""
    document = _require_dict(document, "dispute")
    amount = _require_int(document, "amount")
    if amount < 0:
        raise MalformedStripeObject("dispute amount cannot be negative")
    charge_id, charge = _object_or_id(document, "charge")
    payment_intent_id, _ = _object_or_id(document, "payment_intent")
    if payment_intent_id is None and charge is not None:
        payment_intent_id, _ = _object_or_id(charge, "payment_intent")
    evidence = document.get("evidence_details")
    due_by = _timestamp(evidence, "due_by") if isinstance(evidence, dict) else None
    return DisputeData(
        id=_require_str(document, "id"),
        amount_cents=amount,
        currency=_require_str(document, "currency").upper(),
        status=_require_str(document, "status"),
        reason=(_optional_str(document, "reason") or "")[:100],
        charge_id=charge_id,
        payment_intent_id=payment_intent_id,
        evidence_due_by=due_by,
        livemode=_livemode(document),
    )


def thin_event_envelope_parse(document: Any) -> EventEnvelope:
    """A v2 "thin" event: an id, a type, an ISO-8601 `created` and `related_object`, no
    `data.object` (the object must be fetched; none of them changes a purchase)."""
    document = _require_dict(document, "thin event")
    event_id, event_type = _event_identity(document)
    related = document.get("related_object")
    related_id = related.get("id") if isinstance(related, dict) else None
    return EventEnvelope(
        id=event_id,
        type=event_type,
        api_version="",
        livemode=_livemode(document),
        created_at=_iso_timestamp(document, "created"),
        data_object={},
        object_id=related_id[:255] if isinstance(related_id, str) else "",
        kind=EnvelopeKind.THIN,
    )


def _iso_timestamp(document: dict, key: str) -> datetime | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedStripeObject(f"{key} must be an ISO-8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise MalformedStripeObject(f"{key} is not an ISO-8601 time") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def unrecognised_envelope(document: Any, *, fallback_id: str, problem: str) -> EventEnvelope:
    """What can be recorded of a signed body that is not a readable event: its own id and
    type when they are usable strings, else `fallback_id` and an empty type."""
    fields = document if isinstance(document, dict) else {}
    event_id = fields.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        event_id = fallback_id
    event_type = fields.get("type")
    return EventEnvelope(
        id=event_id,
        type=event_type[:100] if isinstance(event_type, str) else "",
        api_version="",
        livemode=False,
        created_at=None,
        data_object={},
        object_id="",
        kind=EnvelopeKind.UNRECOGNISED,
        problem=problem[:500],
    )
