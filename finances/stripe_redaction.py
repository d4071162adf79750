"""Secrets taken out of Stripe documents before they are stored or shown.

Stripe objects carry a few credentials: a PaymentIntent's (and SetupIntent's)
`client_secret` is a guest's only proof of a purchase, and a webhook endpoint's or
ephemeral key's `secret` signs or authorises requests. Stored event payloads and their
admin view keep every other field (ids, amounts, card brand and fingerprint, which
identify a card but cannot charge it) and replace these, anywhere in the tree, with
`REDACTED`. Nothing processing needs is lost: a client secret is never read after
initiation, which stores only its hash.
"""

from typing import Any

SECRET_KEYS = frozenset({"client_secret", "secret"})
REDACTED = "[redacted]"


def _is_secret(key, value) -> bool:
    return key in SECRET_KEYS and value is not None and value not in ("", REDACTED)


def stripe_document_redact(document: Any) -> Any:
    """A copy of `document` with the value of every key in `SECRET_KEYS` replaced.

    The original is left untouched (processing reads it in memory). Empty and null values
    stay as they are, so the copy still says whether there was a secret at all. Walks
    with an explicit stack: a signed event may nest deeper than Python's recursion limit.
    """
    if not isinstance(document, dict | list):
        return document
    root: Any = {} if isinstance(document, dict) else []
    pending = [(document, root)]
    while pending:
        source, target = pending.pop()
        is_object = isinstance(source, dict)
        for key, value in source.items() if is_object else enumerate(source):
            if is_object and _is_secret(key, value):
                copied = REDACTED
            elif isinstance(value, dict | list):
                copied = {} if isinstance(value, dict) else []
                pending.append((value, copied))
            else:
                copied = value
            if is_object:
                target[key] = copied
            else:
                target.append(copied)
    return root


def stripe_document_has_secret(document: Any) -> bool:
    """True when `document` still holds a value `stripe_document_redact` would replace."""
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if any(_is_secret(key, value) for key, value in node.items()):
                return True
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False
