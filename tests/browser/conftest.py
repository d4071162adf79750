"""Browser tests: Debian's Chromium driven by Playwright against a real `make run`-style
server (gunicorn + the django-q2 worker, on a free port, with its own SQLite database,
migrated and seeded with `seed_pricing_plans`), and the suite's localstripe sending its
webhooks to that server. Reusable fixtures:

- `storefront_server`: the running server (`.base_url`, `.database`, `.email_dir`,
  `.log_path`, `.query(sql, params)`), one per test module;
- `outbox`: the emails the server has written (`.messages()`, `.wait_for(predicate)`);
- `page`: a fresh Playwright page (English unless `browser_locale` is overridden);
- `screenshot(page, name)`: saves `<SCREENSHOT_DIR>/<name>.png` (default `.run/screenshots/`).

Chromium comes from Debian (`apt-get install chromium`; Playwright's own downloads cannot
be fetched here). Without it, or without localstripe, the tests skip with the reason, and
fail under REQUIRE_SERVICES=1 (CI).
"""

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from devtools import localstripe as localstripe_control
from tests.conftest import _service_missing
from tests.support.email_outbox import Outbox
from tests.support.jobs import REPOSITORY
from tests.support.stripe_events import TEST_WEBHOOK_SECRET, WEBHOOK_URL

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", REPOSITORY / ".run" / "screenshots"))
SERVER_START_SECONDS = 60
WEBHOOK_REGISTRATION_ID = "browser-tests"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.localstripe)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class StorefrontServer:
    base_url: str
    database: Path
    email_dir: Path
    log_path: Path
    localstripe_api_base: str
    environment: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)

    def manage(self, *arguments: str) -> str:
        """Runs a management command against the server's database; returns its output."""
        result = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=REPOSITORY,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def session_for(self, *, email: str, name: str, password: str = "") -> str:
        """A signed-in session (its key) for this user, created if missing: what a sign-in
        page would give. The lead's sign-in tests go through allauth's pages instead."""
        script = (
            "from django.contrib.auth import get_user_model, SESSION_KEY, "
            "BACKEND_SESSION_KEY, HASH_SESSION_KEY\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            "User = get_user_model()\n"
            f"user, _ = User.objects.get_or_create(email={email!r},"
            f" defaults={{'name': {name!r}}})\n"
            f"user.set_password({password!r}) if {bool(password)!r} else None\n"
            "user.save()\n"
            "session = SessionStore()\n"
            "session[SESSION_KEY] = str(user.pk)\n"
            "session[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
            "session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
            "session.create()\n"
            "print(session.session_key)\n"
        )
        return self.manage("shell", "-c", script).strip().splitlines()[-1]

    def account_create(self, *, email: str, name: str, password: str) -> None:
        """An account that signs in on allauth's pages: a password and a verified address
        (what signing up and confirming the email would leave)."""
        script = (
            "from allauth.account.models import EmailAddress\n"
            "from django.contrib.auth import get_user_model\n"
            f"user = get_user_model().objects.create_user(email={email!r}, name={name!r},"
            f" password={password!r})\n"
            "EmailAddress.objects.create(user=user, email=user.email, verified=True,"
            " primary=True)\n"
        )
        self.manage("shell", "-c", script)

    def sign_in(self, page, *, email: str, name: str) -> None:
        """Signs the page's browser context in as this user (a session cookie)."""
        key = self.session_for(email=email, name=name)
        page.context.add_cookies(
            [{"name": "sessionid", "value": key, "url": self.base_url, "httpOnly": True}]
        )

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Reads the server's own database (its tables, not this test process's ORM)."""
        with sqlite3.connect(self.database, timeout=20) as db:
            return db.execute(sql, params).fetchall()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _server_environment(
    *, database: Path, email_dir: Path, localstripe_api_base: str, base_url: str
) -> dict:
    localstripe_port = localstripe_api_base.rsplit(":", 1)[1]
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "STRIPE_", "DATABASE_", "REDIS_", "EMAIL_"))
        },
        "DJANGO_READ_DOT_ENV": "false",
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": "",
        # No secret key in the environment: the server talks to localstripe, this one.
        "LOCALSTRIPE_PORT": localstripe_port,
        "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "EMAIL_FILE_PATH": str(email_dir),
        # The emails' links (a guest's claim link) point at this server.
        "PUBLIC_BASE_URL": base_url,
        "RATE_LIMITING_ENABLED": "false",
        "Q_POLL_SECONDS": "0.2",
        "STOREFRONT_STATUS_POLL_MILLISECONDS": "300",
        "LOG_LEVEL": "INFO",
    }


def _health(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/health/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def storefront_server(_localstripe_process, tmp_path_factory, request):
    api_base = _localstripe_process["api_base"]
    # A fresh localstripe for this module (the `localstripe` fixture's rule).
    localstripe_control.reset_data(api_base=api_base)
    _localstripe_process["module"] = request.module.__name__

    root = Path(tmp_path_factory.mktemp("storefront-server"))
    database = root / "db.sqlite3"
    email_dir = root / "emails"
    log_path = root / "server.log"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = _server_environment(
        database=database, email_dir=email_dir, localstripe_api_base=api_base, base_url=base_url
    )
    python = sys.executable
    with log_path.open("ab") as log:
        for command in (
            ["migrate", "--noinput", "-v0"],
            ["seed_pricing_plans"],
            ["collectstatic", "--noinput", "-v0"],
        ):
            subprocess.run(
                [python, "manage.py", *command],
                cwd=REPOSITORY,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=300,
            )
    server = StorefrontServer(
        base_url=base_url,
        database=database,
        email_dir=email_dir,
        log_path=log_path,
        localstripe_api_base=api_base,
        environment=environment,
    )
    gunicorn = Path(python).with_name("gunicorn")
    with log_path.open("ab") as log:
        for command in (
            [str(gunicorn), "-c", "config/gunicorn.conf.py", "config.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
             "--worker-class", "gthread", "--access-logfile", "-"],
            [python, "manage.py", "qcluster"],
        ):  # fmt: skip
            server.processes.append(
                subprocess.Popen(
                    command,
                    cwd=REPOSITORY,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _health(base_url):
            if time.monotonic() > deadline or server.processes[0].poll() is not None:
                pytest.fail(f"the storefront server did not start:\n{server.log()[-4000:]}")
            time.sleep(0.2)
        localstripe_control.register_webhook(
            api_base=api_base,
            url=f"{base_url}{WEBHOOK_URL}",
            secret=TEST_WEBHOOK_SECRET,
            registration_id=WEBHOOK_REGISTRATION_ID,
        )
        yield server
    finally:
        # localstripe has no delete: an empty event list silences the registration.
        with contextlib.suppress(requests.RequestException):
            localstripe_control.register_webhook(
                api_base=api_base,
                url="http://127.0.0.1:9/",
                secret="whsec_off",
                registration_id=WEBHOOK_REGISTRATION_ID,
                events=[],
            )
        for process in server.processes:
            if process.poll() is None:
                process.terminate()
        for process in server.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture
def outbox(storefront_server) -> Outbox:
    return Outbox(storefront_server.email_dir)


@pytest.fixture(scope="session")
def _chromium():
    if not Path(CHROMIUM).exists():
        _service_missing(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _service_missing("the playwright package is not installed in this virtualenv")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
    except Exception as error:
        playwright.stop()
        _service_missing(f"Chromium at {CHROMIUM} did not start: {error}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def browser_locale() -> str:
    return "en-GB"


@pytest.fixture
def page(_chromium, storefront_server, browser_locale):
    context = _chromium.new_context(
        base_url=storefront_server.base_url,
        locale=browser_locale,
        viewport={"width": 1100, "height": 900},
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def _screenshot_dir() -> Path:
    if SCREENSHOT_DIR.exists():
        shutil.rmtree(SCREENSHOT_DIR, ignore_errors=True)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    print(f"\nBrowser screenshots: {SCREENSHOT_DIR}")
    return SCREENSHOT_DIR


@pytest.fixture
def screenshot(_screenshot_dir):
    def take(page, name: str) -> Path:
        path = _screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
