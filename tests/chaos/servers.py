"""Two real gunicorn servers on loopback sharing one PostgreSQL database and one Redis."""

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    port: int
    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(PROJECT_ROOT / ".venv" / "bin" / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "8",
                "--worker-class",
                "gthread",
                "--timeout",
                "60",
                "--graceful-timeout",
                "2",
            ],
            cwd=PROJECT_ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_ready(self, timeout_seconds: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/health/?stripe=false", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"gunicorn on {self.port} did not answer; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the master and its workers: requests in flight die with them."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()
        self.restarts += 1
        self.wait_until_ready()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class ServerPair:
    servers: list[Server] = field(default_factory=list)

    @classmethod
    def start(cls, *, environment: dict[str, str], log_directory: Path) -> "ServerPair":
        pair = cls(
            servers=[
                Server(
                    port=free_port(),
                    environment=environment,
                    log_path=log_directory / f"gunicorn-{index}.log",
                )
                for index in range(2)
            ]
        )
        for server in pair.servers:
            server.start()
        for server in pair.servers:
            server.wait_until_ready()
        return pair

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def server_environment(
    *,
    database_url: str,
    redis_url: str,
    stripe_api_base: str,
    webhook_secret: str,
    cache_key_prefix: str,
    rate_limiting: bool = False,
) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "STRIPE_"))
    }
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_READ_DOT_ENV": "false",
            "DATABASE_URL": database_url,
            "DATABASE_CONN_MAX_AGE": "60",
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": cache_key_prefix,
            "STRIPE_SECRET_KEY": "sk_test_chaos",
            "STRIPE_API_BASE": stripe_api_base,
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            "STRIPE_WEBHOOK_SECRET": webhook_secret,
            "RATE_LIMITING_ENABLED": "true" if rate_limiting else "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    return environment
