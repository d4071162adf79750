"""Start, probe, reset and configure a localstripe process (our local Stripe).

localstripe runs as a separate process; this module only talks to it over HTTP. Used by
`scripts/run.sh` (through the command line below) and by the test suite.

    python -m devtools.localstripe wait --api-base http://127.0.0.1:8420
    python -m devtools.localstripe register-webhook --api-base ... --url ... --secret ...
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import requests

WEBHOOK_REGISTRATION_ID = "aprende-comigo"


def is_ready(api_base: str) -> bool:
    try:
        # Any sk_ key longer than 5 characters is accepted by localstripe.
        response = requests.get(
            f"{api_base}/v1/balance", headers={"Authorization": "Bearer sk_test_probe"}, timeout=1
        )
    except requests.RequestException:
        return False
    return response.status_code == 200


def wait_until_ready(api_base: str, timeout_seconds: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if is_ready(api_base):
            return
        time.sleep(0.1)
    raise TimeoutError(f"localstripe did not answer at {api_base} within {timeout_seconds} s")


def start(*, port: int, log_path: Path) -> subprocess.Popen:
    executable = Path(sys.executable).with_name("localstripe")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    return subprocess.Popen(  # noqa: S603 (our own venv's executable)
        [str(executable), "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def register_webhook(
    *,
    api_base: str,
    url: str,
    secret: str,
    registration_id: str = WEBHOOK_REGISTRATION_ID,
    events: list[str] | None = None,
) -> None:
    """Registrations live in localstripe's memory and are replaced by id."""
    body: dict = {"url": url, "secret": secret}
    if events is not None:
        body["events"] = events
    response = requests.post(f"{api_base}/_config/webhooks/{registration_id}", json=body, timeout=5)
    response.raise_for_status()


def reset_data(*, api_base: str) -> None:
    """Forgets every object (webhook registrations survive)."""
    requests.delete(f"{api_base}/_config/data", timeout=10).raise_for_status()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    wait_parser = sub.add_parser("wait")
    wait_parser.add_argument("--api-base", required=True)
    wait_parser.add_argument("--timeout", type=float, default=20.0)
    ready_parser = sub.add_parser("is-ready")
    ready_parser.add_argument("--api-base", required=True)
    register_parser = sub.add_parser("register-webhook")
    register_parser.add_argument("--api-base", required=True)
    register_parser.add_argument("--url", required=True)
    register_parser.add_argument("--secret", required=True)
    arguments = parser.parse_args(argv)
    if arguments.command == "wait":
        wait_until_ready(arguments.api_base, arguments.timeout)
    elif arguments.command == "is-ready":
        return 0 if is_ready(arguments.api_base) else 1
    else:
        register_webhook(api_base=arguments.api_base, url=arguments.url, secret=arguments.secret)
    return 0


if __name__ == "__main__":
    sys.exit(main())
