"""An email backend whose server refuses every message (a real failure mode of SMTP)."""

from django.core.mail.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("[Errno 111] Connection refused (test SMTP server down)")
