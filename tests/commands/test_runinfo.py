"""`manage.py runinfo` and `manage.py ensure_database`: what `make run` reads, and the
database it prepares, from the same configuration as Django (environment, then `.env`)."""

import shlex
import subprocess
import sys
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from core.runinfo import run_settings, url_redact
from tests.support.jobs import REPOSITORY


def _manage(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPOSITORY,
        env={**base, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _parsed(output: str) -> dict[str, str]:
    pairs = (shlex.split(line)[0].split("=", 1) for line in output.splitlines())
    return dict(pairs)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgres://aprende:s3cret@db:5432/aprende", "postgres://aprende:***@db:5432/aprende"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "postgres://postgres@127.0.0.1:5432/aprende",
            "postgres://postgres@127.0.0.1:5432/aprende",
        ),
        ("smtp+tls://user:p%40ss@[::1]:587", "smtp+tls://user:***@[::1]:587"),
    ],
)
def test_passwords_in_urls_are_redacted(url, redacted):
    assert url_redact(url) == redacted


def test_with_the_local_memory_cache_one_web_worker_serves(settings):
    settings.REDIS_URL = ""
    settings.WEB_CONCURRENCY = 4

    assert run_settings()["WEB_WORKERS"] == "1"
    assert run_settings()["CACHE_DESCRIPTION"] == "local memory"


def test_localstripe_is_used_when_the_api_base_is_its_port(settings):
    settings.LOCALSTRIPE_PORT = 8555
    settings.LOCALSTRIPE_API_BASE = "http://127.0.0.1:8555"
    settings.STRIPE_API_BASE = "http://127.0.0.1:8555"
    assert run_settings()["USE_LOCALSTRIPE"] == "yes"

    settings.STRIPE_API_BASE = "https://api.stripe.com"
    assert run_settings()["USE_LOCALSTRIPE"] == "no"


def test_the_output_is_shell_safe_lines(capsys):
    call_command("runinfo")

    lines = capsys.readouterr().out.splitlines()
    assert all(len(shlex.split(line)) == 1 for line in lines)
    assert _parsed("\n".join(lines))["DATABASE_VENDOR"] == connection.vendor


def test_a_dot_env_file_decides_the_database_cache_and_workers_with_passwords_redacted(tmp_path):
    dot_env = tmp_path / ".env"
    dot_env.write_text(
        "DATABASE_URL=postgres://aprende:s3cret-pw@db.internal:5432/aprende\n"
        "REDIS_URL=redis://:cache-pw@cache.internal:6379/0\n"
        "WEB_CONCURRENCY=3\nQ_WORKERS=4\nPORT=9100\nLOCALSTRIPE_PORT=8555\n"
        "EMAIL_URL=smtp+tls://mailer:mail-pw@smtp.example.com:587\n"
    )

    completed = _manage("runinfo", environment={"DJANGO_DOT_ENV_FILE": str(dot_env)})

    assert completed.returncode == 0, completed.stderr
    assert "pw" not in completed.stdout
    info = _parsed(completed.stdout)
    assert info["DATABASE_VENDOR"] == "postgresql"
    assert info["DATABASE_DESCRIPTION"] == "postgres://aprende:***@db.internal:5432/aprende"
    assert info["CACHE_DESCRIPTION"] == "redis://:***@cache.internal:6379/0"
    assert (info["WEB_WORKERS"], info["QUEUE_WORKERS"], info["RUN_PORT"]) == ("3", "4", "9100")
    assert (info["USE_LOCALSTRIPE"], info["STRIPE_API_BASE"]) == ("yes", "http://127.0.0.1:8555")
    assert info["EMAIL_DESTINATION"] == "SMTP smtp.example.com:587"


def test_an_unreachable_database_is_one_clear_line_without_its_password():
    completed = _manage(
        "ensure_database",
        environment={
            "DJANGO_READ_DOT_ENV": "false",
            "DATABASE_URL": "postgres://aprende:s3cret@127.0.0.1:9/aprende",
        },
    )

    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1, completed.stderr
    assert completed.stderr.startswith(
        "CommandError: Cannot connect to postgres://aprende:***@127.0.0.1:9/aprende"
    )
    assert "s3cret" not in completed.stderr


@pytest.mark.postgresql
@pytest.mark.django_db
def test_a_postgresql_database_that_does_not_exist_is_created():
    settings = connection.settings_dict
    name = f"aprende_ensure_{uuid.uuid4().hex[:8]}"
    credentials = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    server = f"postgres://{credentials}@{settings['HOST']}:{settings['PORT'] or 5432}"
    environment = {"DJANGO_READ_DOT_ENV": "false", "DATABASE_URL": f"{server}/{name}"}
    try:
        first = _manage("ensure_database", environment=environment)
        second = _manage("ensure_database", environment=environment)
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as maintenance:
            maintenance.execute(f'DROP DATABASE IF EXISTS "{name}"')

    assert first.returncode == 0, first.stderr
    assert first.stdout == f"Created the PostgreSQL database '{name}'.\n"
    assert (second.returncode, second.stdout) == (0, "")
