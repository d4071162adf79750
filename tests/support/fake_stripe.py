"""A real HTTP server that answers like a Stripe having a bad day.

localstripe cannot time out, rate-limit or fail with 5xx; this can. The real `stripe` SDK
talks to it over real HTTP, so error mapping is tested without mocking the SDK.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class CannedResponse:
    status: int = 200
    body: dict = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


class FakeStripeServer:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.response = CannedResponse()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                server.requests.append(
                    RecordedRequest(self.command, self.path, dict(self.headers), body)
                )
                canned = server.response
                if canned.delay_seconds:
                    time.sleep(canned.delay_seconds)
                payload = json.dumps(canned.body).encode()
                try:
                    self.send_response(canned.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in canned.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeStripeServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def respond(self, status: int, body: dict, *, headers=None, delay_seconds: float = 0.0) -> None:
        self.response = CannedResponse(status, body, headers or {}, delay_seconds)

    def respond_with_error(self, status: int, error_type: str, **error_fields) -> None:
        self.respond(
            status, {"error": {"type": error_type, "message": "fake error", **error_fields}}
        )
