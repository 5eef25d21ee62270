"""The Quarry HTTP API as the CLI sees it: JSON in and out, every failure turned into a CliError with
the exit code it deserves and the API's own `{"error": {"code", "message"}}` words."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from quarry_cli.errors import FAILED, UNREACHABLE, USAGE, CliError

DEFAULT_API = "http://127.0.0.1:8000"
TIMEOUT_S = 60
MAX_RATE_LIMIT_WAITS = 5


def exit_code_for(status: int) -> int:
    if status in (401, 403) or status >= 500:
        return UNREACHABLE  # not signed in, not allowed, or the API itself is failing
    if status in (400, 405, 415, 422):
        return USAGE  # the API refused the arguments it was given
    return FAILED  # 404 and the like: nothing there


class ApiError(CliError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{message} ({code}, HTTP {status})", exit_code_for(status))
        self.status = status
        self.code = code


def unreachable(base_url: str, error: Exception) -> CliError:
    reason = type(error).__name__ if isinstance(error, requests.ConnectionError) else str(error)
    return CliError(
        f"cannot reach the Quarry API at {base_url} ({reason}): is it running (`make local`) or is --api "
        "wrong?",
        UNREACHABLE,
    )


class Api:
    """One API deployment. `token` is called before each request (it may sign in or refresh); a 401 calls
    `on_unauthorized` once, which may refresh, before the request is tried again."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str | None] = lambda: None,
        on_unauthorized: Callable[[], bool] = lambda: False,
    ):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._on_unauthorized = on_unauthorized
        self.http = requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
            response = self._send(method, path, body, params)
            if response.status_code == 401 and attempt == 0 and self._on_unauthorized():
                response = self._send(method, path, body, params)
            if response.status_code == 429 and attempt < MAX_RATE_LIMIT_WAITS:
                # The tenant's per-minute budget is spent: wait as long as the API says, then go on.
                time.sleep(min(float(response.headers.get("Retry-After", "5")), 60))
                continue
            return self._answer(response)
        raise AssertionError("unreachable: the loop always returns")

    def public(self, method: str, path: str) -> Any:
        """A route that needs no sign-in (GET /auth/config, /health)."""
        return self._answer(self._send(method, path, None, {}, signed=False))

    def _send(
        self, method: str, path: str, body: Any, params: dict[str, Any], signed: bool = True
    ) -> requests.Response:
        headers = {}
        token = self._token() if signed else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        query = {k: v for k, v in params.items() if v is not None}
        try:
            return self.http.request(
                method, self.base_url + path, json=body, params=query, headers=headers, timeout=TIMEOUT_S
            )
        except requests.RequestException as error:
            raise unreachable(self.base_url, error) from None

    def _answer(self, response: requests.Response) -> Any:
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        if response.status_code < 400:
            if payload is None and response.content:
                raise CliError(f"{self.base_url} did not answer JSON: is --api the Quarry API?", UNREACHABLE)
            return payload
        error = (payload or {}).get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            raise ApiError(response.status_code, str(error.get("code")), str(error.get("message")))
        raise ApiError(response.status_code, "http_error", response.reason or "request failed")
