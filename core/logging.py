"""Structured log lines: a message name plus the `extra` context (ids, statuses).

`text` renders `time level logger message key=value ...`; `json` renders one JSON object
per line for log shippers. Callers never pass card data or secrets in `extra`.
"""

import json
import logging
from datetime import UTC, datetime

from django.http import HttpRequest

from core.log_redaction import redact_secret_paths

_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _loggable(value):
    # Django passes the request itself (`django.request` errors); its repr is the full
    # URL, query string included, which may hold a secret. The path is enough.
    if isinstance(value, HttpRequest):
        return f"{value.method} {value.path}"
    return value


class StructuredFormatter(logging.Formatter):
    def __init__(self, style_name: str = "text", **kwargs) -> None:
        super().__init__()
        self.style_name = style_name

    def format(self, record: logging.LogRecord) -> str:
        context = {
            key: _loggable(value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }
        timestamp = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        message = record.getMessage()
        if self.style_name == "json":
            document = {
                "time": timestamp,
                "level": record.levelname,
                "logger": record.name,
                "message": message,
                **context,
            }
            if record.exc_info:
                document["exception"] = self.formatException(record.exc_info)
            return redact_secret_paths(json.dumps(document, default=str))
        pairs = " ".join(f"{key}={value}" for key, value in context.items())
        line = f"{timestamp} {record.levelname} {record.name} {message} {pairs}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact_secret_paths(line)
