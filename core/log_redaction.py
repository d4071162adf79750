"""Paths whose segments are secrets, redacted wherever a path is logged.

allauth puts one-time keys in the path of two links it emails: the password reset
(`/accounts/password/reset/key/<uid>-<key>/`) and the email confirmation
(`/accounts/confirm-email/<key>/`). Whoever reads a log line with such a path could use
the link. The guest claim link keeps its token in the URL fragment, which never reaches a
server, so it needs nothing here.
"""

import re

REDACTED = "[redacted]"
_SECRET_PATH_SEGMENTS = re.compile(
    r"(/accounts/password/reset/key/|/accounts/confirm-email/)[^/?#\s\"']+"
)


def redact_secret_paths(text: str) -> str:
    if "/accounts/" not in text:
        return text
    return _SECRET_PATH_SEGMENTS.sub(lambda match: match.group(1) + REDACTED, text)
