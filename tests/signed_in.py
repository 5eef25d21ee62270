"""chalice.test's HTTP client, signed in: every request carries the user's ID token."""

from __future__ import annotations

from typing import Any


class SignedInHttp:
    def __init__(self, http: Any, token: str | None):
        self._http = http
        self.token = token

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = b"") -> Any:
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        return self._http.request(method, path, headers=sent, body=body)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)
