"""The one parser of the `Stripe-Signature` header, and the HMAC it is checked with.

A header is `t=<unix time>,v1=<hex hmac>[,v1=…][,v0=…]`. It is read once, strictly:
exactly one `t=` of ASCII digits (at most 12), every item `key=value`, no empty item.
The tolerance check and the HMAC check then read the same parsed timestamp, so a header
with a second `t=` cannot pass one check with one timestamp and the other with another.
Unknown schemes (`v0`, a future `v2`) are ignored, as Stripe documents.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass

from finances.errors import WebhookSignatureInvalid

MAX_TIMESTAMP_DIGITS = 12  # Unix seconds until the year 33658
_KEY = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    v1_signatures: tuple[str, ...]


def signature_header_parse(header: str | None) -> SignatureHeader:
    """The header's timestamp and v1 signatures; `WebhookSignatureInvalid` if malformed."""
    if not header:
        raise WebhookSignatureInvalid("The Stripe-Signature header is missing.")
    if not header.isascii():
        # hmac.compare_digest refuses non-ASCII text; no valid header has any.
        raise WebhookSignatureInvalid()
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, separator, value = item.partition("=")
        if not separator or not value or not _KEY.fullmatch(key):
            raise WebhookSignatureInvalid("The Stripe-Signature header has a malformed item.")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1:
        raise WebhookSignatureInvalid("The Stripe-Signature header needs exactly one timestamp.")
    timestamp = timestamps[0]
    if not timestamp.isdigit() or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise WebhookSignatureInvalid("The signature timestamp is not a Unix time.")
    if not signatures:
        raise WebhookSignatureInvalid("The Stripe-Signature header has no v1 signature.")
    return SignatureHeader(timestamp=int(timestamp), v1_signatures=tuple(signatures))


def signature_expected(*, payload_text: str, timestamp: int, secret: str) -> str:
    """Stripe's v1 scheme: HMAC-SHA256 of `"<timestamp>.<body>"` under the endpoint secret."""
    signed = f"{timestamp}.{payload_text}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_matches(*, header: SignatureHeader, payload_text: str, secret: str) -> bool:
    expected = signature_expected(
        payload_text=payload_text, timestamp=header.timestamp, secret=secret
    )
    # Every signature is compared (no early exit), each in constant time.
    matches = [hmac.compare_digest(expected, candidate) for candidate in header.v1_signatures]
    return any(matches)
