"""config/gunicorn.conf.py: the access log never carries a query string or a Referer."""

import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"
SECRET = "pi_3Qx_secret_f00dfeedf00dfeed"


def access_line(*, path: str, query: str, referer: str = "-") -> str:
    config = Config()
    config.set("access_log_format", runpy.run_path(str(CONFIG_FILE))["access_log_format"])
    logger = Logger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"{path}?{query}" if query else path,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": referer,
        "HTTP_USER_AGENT": "curl/8",
    }
    response = SimpleNamespace(status="400 Bad Request", headers=[], sent=120)
    request = SimpleNamespace(headers=[("REFERER", referer)])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=7))
    return config.access_log_format % logger.atoms_wrapper_class(atoms)


def test_a_client_secret_in_the_query_string_is_not_in_the_access_log():
    line = access_line(path="/api/finances/purchase/abc/status/", query=f"client_secret={SECRET}")

    assert SECRET not in line
    assert "client_secret" not in line
    assert '"GET /api/finances/purchase/abc/status/ HTTP/1.1" 400 120 7ms' in line
    assert line.startswith("203.0.113.9 ")


def test_a_secret_in_the_referer_is_not_in_the_access_log():
    line = access_line(
        path="/api/finances/plans/", query="", referer=f"https://shop/?client_secret={SECRET}"
    )

    assert SECRET not in line


def test_gunicorn_reads_the_file_as_its_configuration():
    # What `gunicorn -c config/gunicorn.conf.py` does with it: every name is a setting.
    config = Config()
    for name, value in runpy.run_path(str(CONFIG_FILE)).items():
        if not name.startswith("__"):
            config.set(name, value)

    assert "%(U)s" in config.access_log_format
    assert "%(r)s" not in config.access_log_format
    assert "%(q)s" not in config.access_log_format


def redacting_access_line(*, path: str, referer: str = "-") -> str:
    """What the configured logger class writes for this request."""
    from config.gunicorn_logging import RedactingLogger

    settings = runpy.run_path(str(CONFIG_FILE))
    assert settings["logger_class"] == "config.gunicorn_logging.RedactingLogger"
    config = Config()
    config.set("access_log_format", settings["access_log_format"])
    logger = RedactingLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": referer,
        "HTTP_USER_AGENT": "curl/8",
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=120)
    request = SimpleNamespace(headers=[("REFERER", referer)])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=7))
    return config.access_log_format % logger.atoms_wrapper_class(atoms)


RESET_KEY = "4-cz8k1p-9e2f0d0a5b7c6e1f3a2b4c5d6e7f8a9b"
CONFIRM_KEY = "MQ:1xYb0c:Qk3v0W2l9Zr5mXc8JtYhP1sDq4nGfA7bE6uR2oT9iLk"


def test_a_password_reset_key_in_the_path_is_not_in_the_access_log():
    line = redacting_access_line(path=f"/accounts/password/reset/key/{RESET_KEY}/")

    assert RESET_KEY not in line
    assert '"GET /accounts/password/reset/key/[redacted]/ HTTP/1.1" 200' in line


def test_an_email_confirmation_key_in_the_path_is_not_in_the_access_log():
    line = redacting_access_line(path=f"/accounts/confirm-email/{CONFIRM_KEY}/")

    assert CONFIRM_KEY not in line
    assert "/accounts/confirm-email/[redacted]/" in line


def test_other_paths_are_logged_as_they_are():
    line = redacting_access_line(path="/accounts/login/")

    assert '"GET /accounts/login/ HTTP/1.1"' in line


def test_django_log_lines_redact_the_same_keys():
    import logging

    from core.logging import StructuredFormatter

    record = logging.makeLogRecord(
        {"msg": "Not Found: %s", "args": (f"/accounts/password/reset/key/{RESET_KEY}/",)}
    )

    for style in ("text", "json"):
        assert RESET_KEY not in StructuredFormatter(style_name=style).format(record)
