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
