"""What `make run` needs to know, from the effective settings (environment and `.env`,
exactly as Django reads them), with every password in a URL redacted."""

import shlex
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

REDACTED = "***"


def url_redact(url: str) -> str:
    """postgres://user:secret@host/db → postgres://user:***@host/db (idem redis://:pw@)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    user = quote(parts.username or "", safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}"))


def database_description() -> str:
    """The effective database as a URL, password redacted."""
    database = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    user = quote(database.get("USER") or "", safe="")
    credentials = (
        f"{user}:{REDACTED}@" if database.get("PASSWORD") else (f"{user}@" if user else "")
    )
    port = f":{database['PORT']}" if database.get("PORT") else ""
    scheme = "postgres" if connection.vendor == "postgresql" else connection.vendor
    return f"{scheme}://{credentials}{database.get('HOST') or ''}{port}/{database['NAME']}"


def uses_localstripe() -> bool:
    return settings.STRIPE_API_BASE.rstrip("/") == settings.LOCALSTRIPE_API_BASE


def email_destination() -> str:
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if backend == "filebased":
        return f"files in {settings.EMAIL_FILE_PATH}"
    if backend == "smtp":
        return f"SMTP {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    return backend


def run_settings() -> dict[str, str]:
    redis_url = settings.REDIS_URL
    web_workers = settings.WEB_CONCURRENCY if redis_url else 1
    return {
        "RUN_HOST": settings.RUN_HOST,
        "RUN_PORT": str(settings.RUN_PORT),
        "DATABASE_VENDOR": connection.vendor,
        "DATABASE_DESCRIPTION": database_description(),
        "CACHE_DESCRIPTION": url_redact(redis_url) if redis_url else "local memory",
        "STRIPE_API_BASE": settings.STRIPE_API_BASE,
        "USE_LOCALSTRIPE": "yes" if uses_localstripe() else "no",
        "LOCALSTRIPE_PORT": str(settings.LOCALSTRIPE_PORT),
        "WEB_WORKERS": str(web_workers),
        "QUEUE_WORKERS": str(settings.Q_CLUSTER["workers"]),
        "EMAIL_DESTINATION": email_destination(),
    }


def run_settings_lines() -> list[str]:
    """Shell-safe `KEY=value` lines (`eval` them)."""
    return [f"{key}={shlex.quote(value)}" for key, value in run_settings().items()]
