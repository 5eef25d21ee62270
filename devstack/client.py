"""A small client of the Quarry API: upload files the way any client does (POST /uploads, then the
pre-signed POST form straight to S3) and follow them to a terminal status."""

from __future__ import annotations

import json
import mimetypes
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

TERMINAL = {"INDEXED", "FAILED", "DELETED"}


class ApiClient:
    def __init__(
        self, base_url: str = "http://127.0.0.1:8000", timeout_s: float = 60, token: str | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.token = token

    def sign_in(self, username: str, password: str) -> ApiClient:
        """Sign in as a user of the API's pool, as any client does: the pool from the public
        GET /auth/config, then Cognito's InitiateAuth (USER_PASSWORD_AUTH); the ID token goes on
        every later request."""
        from devstack.identity import sign_in

        status, config = self.request("GET", "/auth/config")
        if status != 200 or not config.get("client_id"):
            raise RuntimeError(f"GET /auth/config: {status} {config}")
        self.token = sign_in(
            config["client_id"], username, password, config["region"], config.get("cognito_endpoint")
        )
        return self

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, rate_limit_waits: int = 0
    ) -> tuple[int, Any]:
        """One API call; with `rate_limit_waits`, a 429 is waited out (its Retry-After) that many times."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for waits_left in range(rate_limit_waits, -1, -1):
            request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                answer = json.loads(error.read() or b"null")
                if error.code != 429 or not waits_left:
                    return error.code, answer
                time.sleep(float(error.headers.get("Retry-After") or 1))
        raise AssertionError("unreachable: the last pass returns")

    def upload(
        self, path: Path, metadata: dict[str, str] | None = None, content_type: str | None = None
    ) -> str:
        content_type = content_type or mimetypes.guess_type(path.name)[0]
        body: dict[str, Any] = {"filename": path.name, "metadata": metadata or {}}
        if content_type:
            body["content_type"] = content_type
        # A folder of thousands of files meets the tenant's upload limit: wait it out, as `quarry` does.
        status, answer = self.request("POST", "/uploads", body, rate_limit_waits=10)
        if status != 201:
            raise RuntimeError(f"POST /uploads for {path.name}: {status} {answer}")
        put_presigned(answer["upload"], path.read_bytes(), path.name)
        return answer["document_id"]

    def wait(self, document_id: str, timeout_s: float = 300, poll_s: float = 0.5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            status, document = self.request("GET", f"/documents/{document_id}")
            if status == 200 and document["status"] in TERMINAL:
                return document
            if time.monotonic() > deadline:
                raise TimeoutError(f"{document_id} still {document.get('status')} after {timeout_s}s")
            time.sleep(poll_s)

    def search(self, query: str, mode: str = "hybrid", k: int = 10, **extra: Any) -> dict[str, Any]:
        status, answer = self.request("POST", "/search", {"query": query, "mode": mode, "k": k, **extra})
        if status != 200:
            raise RuntimeError(f"POST /search: {status} {answer}")
        return answer


def demo_client(base_url: str, timeout_s: float = 60) -> ApiClient:
    """A client signed in as the local stack's first default user (devstack.identity.DEFAULT_USERS):
    what the tests and the benchmarks use against a stack they started themselves."""
    from devstack.identity import DEFAULT_USERS, parse_users

    demo = parse_users(DEFAULT_USERS)[0]
    return ApiClient(base_url, timeout_s).sign_in(demo.username, demo.password)


def put_presigned(upload: dict[str, Any], data: bytes, filename: str = "upload") -> None:
    """Send `data` through the pre-signed POST form /uploads handed out: its fields, then the file
    (S3 reads the fields before the file, so the file goes last)."""
    body, content_type = multipart_form(upload["fields"], data, filename)
    request = urllib.request.Request(
        upload["url"], data=body, method=upload["method"], headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status >= 300:
            raise RuntimeError(f"upload failed: {response.status}")


def multipart_form(fields: dict[str, str], data: bytes, filename: str) -> tuple[bytes, str]:
    """A multipart/form-data body of `fields` and then the file; returns it and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def ingest_folder(folder: Path, api: ApiClient, wait: bool = True) -> list[dict[str, Any]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    uploaded = []
    for number, path in enumerate(files, 1):
        document_id = api.upload(path)
        uploaded.append((path, document_id))
        print(f"[{number}/{len(files)}] uploaded {path} → {document_id}", flush=True)
    results = []
    if wait:
        for number, (path, document_id) in enumerate(uploaded, 1):
            document = api.wait(document_id)
            reason = (
                f" ({document['error']['code']}: {document['error']['message']})" if document["error"] else ""
            )
            print(
                f"[{number}/{len(uploaded)}] {document['status']:8} {path.name}"
                f" chunks={document['chunk_count']}{reason}",
                flush=True,
            )
            results.append(document)
    return results
