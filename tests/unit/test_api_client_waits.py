"""The local stack's API client (used by make ingest's predecessor, the benchmarks and e2e tests) waits
out the tenant's rate limit instead of failing a folder upload on the 301st file."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devstack.client import ApiClient


def limited_server(refusals: int) -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            limited = len(seen) <= refusals
            body = json.dumps(
                {"error": {"code": "rate_limited", "message": "wait"}} if limited else {"ok": 1}
            )
            self.send_response(429 if limited else 201)
            if limited:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_429_is_waited_out_as_often_as_asked_then_answered() -> None:
    server, seen = limited_server(refusals=2)
    try:
        client = ApiClient(f"http://127.0.0.1:{server.server_port}")
        assert client.request("POST", "/uploads", {}, rate_limit_waits=2) == (201, {"ok": 1})
        assert len(seen) == 3
    finally:
        server.shutdown()


def test_without_waits_the_429_is_the_answer() -> None:
    server, seen = limited_server(refusals=1)
    try:
        status, answer = ApiClient(f"http://127.0.0.1:{server.server_port}").request("POST", "/uploads", {})
        assert status == 429 and answer["error"]["code"] == "rate_limited" and len(seen) == 1
    finally:
        server.shutdown()
