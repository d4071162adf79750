"""The emails a server wrote with Django's file-based email backend (`EMAIL_FILE_PATH`),
read back as `email.message.Message`s: what `make run` leaves in `.run/emails/`."""

import email
import email.policy
import time
from email.message import EmailMessage
from pathlib import Path


class Outbox:
    """The messages the server wrote with Django's file-based email backend, decoded
    (`message["Subject"]`, `message["To"]`, `message.get_body(("plain",)).get_content()`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self) -> list[EmailMessage]:
        if not self.directory.exists():
            return []
        found = []
        for path in sorted(self.directory.iterdir(), key=lambda p: p.stat().st_mtime):
            # One file per connection; messages are separated by a line of 79 dashes.
            for chunk in path.read_bytes().split(b"-" * 79 + b"\n"):
                if chunk.strip():
                    found.append(email.message_from_bytes(chunk, policy=email.policy.default))
        return found

    def wait_for(self, predicate, *, timeout_seconds: float = 30) -> EmailMessage:
        deadline = time.monotonic() + timeout_seconds
        while True:
            for message in self.messages():
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no such email in {timeout_seconds} s in {self.directory}")
            time.sleep(0.3)
