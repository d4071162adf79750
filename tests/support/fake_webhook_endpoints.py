"""A tiny stateful stand-in for Stripe's /v1/webhook_endpoints (localstripe has none):
list, create (with a signing secret shown once) and update, over real HTTP."""

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse


class FakeWebhookEndpoints:
    def __init__(self, *, account_api_version: str = "2024-06-20") -> None:
        self.endpoints: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, form fields)
        ids = itertools.count(1)
        store = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _fields(self) -> list[tuple[str, str]]:
                length = int(self.headers.get("Content-Length") or 0)
                return parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)

            def do_GET(self) -> None:
                store.requests.append(("GET", self.path, {}))
                data = [
                    {k: v for k, v in e.items() if k != "secret"} for e in store.endpoints.values()
                ]
                self._answer(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "has_more": False,
                        "url": "/v1/webhook_endpoints",
                    },
                )

            def do_POST(self) -> None:
                fields = self._fields()
                store.requests.append(("POST", self.path, dict(fields)))
                events = [value for key, value in fields if key.startswith("enabled_events[")]
                values = dict(fields)
                path = urlparse(self.path).path
                if path == "/v1/webhook_endpoints":
                    endpoint_id = f"we_fake_{next(ids)}"
                    store.endpoints[endpoint_id] = {
                        "id": endpoint_id,
                        "object": "webhook_endpoint",
                        "url": values["url"],
                        "enabled_events": events,
                        "api_version": values.get("api_version") or account_api_version,
                        "status": "enabled",
                        "secret": f"whsec_fake_secret_{endpoint_id}",
                    }
                    self._answer(200, store.endpoints[endpoint_id])
                    return
                endpoint = store.endpoints[path.rsplit("/", 1)[-1]]
                endpoint["enabled_events"] = events
                self._answer(200, {k: v for k, v in endpoint.items() if k != "secret"})

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_existing(self, *, url: str, events: list[str], api_version: str) -> str:
        endpoint_id = f"we_existing_{len(self.endpoints) + 1}"
        self.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "object": "webhook_endpoint",
            "url": url,
            "enabled_events": events,
            "api_version": api_version,
            "status": "enabled",
        }
        return endpoint_id

    def __enter__(self) -> "FakeWebhookEndpoints":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
