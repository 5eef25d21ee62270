"""Talking to OpenSearch Serverless: the signed opensearch-py client, which of its errors are worth
retrying and how to name them, and the NDJSON bodies of `_bulk` requests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError

from chalicelib.adapters.aws_retry import Verdict, is_retryable_status


def build_aoss_client(endpoint: str, region: str, credentials: Any = None, *, timeout: float = 30.0) -> Any:
    """An opensearch-py client signing each request with SigV4 for service `aoss`.

    `credentials` is a botocore Credentials object (the session's by default); see
    `aws_clients.aoss_http_auth`.
    """
    from opensearchpy import OpenSearch, RequestsHttpConnection

    from chalicelib.adapters.aws_clients import aoss_http_auth

    http_auth = aoss_http_auth(region, credentials)
    url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    https = url.scheme == "https"
    return OpenSearch(
        hosts=[{"host": url.hostname, "port": url.port or (443 if https else 80)}],
        http_auth=http_auth,
        use_ssl=https,
        verify_certs=https,
        connection_class=RequestsHttpConnection,
        timeout=timeout,
        # One retry policy (ours, with backoff and a deadline), not a second one inside the transport.
        max_retries=0,
    )


# OpenSearch Serverless answers 403 when the collection's data-access policy (or the network policy)
# does not admit the caller, and 401 when the request's signature is refused: the deployment's fault.
COLLECTION_ACCESS_FIX = (
    "admit the function's role in the collection's data-access policy (infra/search.tf) and check "
    "QUARRY_OPENSEARCH_ENDPOINT and the region the requests are signed for"
)


def classify_opensearch_error(exc: BaseException) -> Verdict | None:
    if isinstance(exc, OpenSearchConnectionError):  # includes timeouts
        return Verdict.RETRY
    if isinstance(exc, TransportError):
        status = exc.status_code if isinstance(exc.status_code, int) else 0
        if status in (401, 403):
            return Verdict.CONFIGURATION
        return Verdict.RETRY if is_retryable_status(status) else Verdict.PERMANENT
    return None


def opensearch_configuration_fix(exc: BaseException) -> str:
    return COLLECTION_ACCESS_FIX


def describe_opensearch_error(exc: BaseException) -> str:
    if isinstance(exc, TransportError):
        info = exc.info if isinstance(exc.info, dict) else {}
        error = info.get("error")
        reason = error.get("reason") if isinstance(error, dict) else None
        return f"OpenSearch {exc.status_code} {exc.error}" + (f": {reason}" if reason else "")
    return f"{type(exc).__name__}: {exc}"


@dataclass
class BulkAction:
    op: str  # "index" or "delete"
    doc_id: str | None = None
    source: dict[str, Any] = field(default_factory=dict)


def bulk_ndjson(actions: Sequence[BulkAction]) -> str:
    lines: list[str] = []
    for action in actions:
        if action.op == "index":
            # No _id: AOSS vector collections reject one. A fresh entry_id per send keeps it unique
            # even when a whole request is resent after a lost answer.
            lines.append(json.dumps({"index": {}}))
            lines.append(json.dumps({**action.source, "entry_id": uuid.uuid4().hex}))
        else:
            lines.append(json.dumps({"delete": {"_id": action.doc_id}}))
    return "\n".join(lines) + "\n"


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bulk_item_error(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{result.get('status')} {error.get('type')}: {error.get('reason')}"
    return f"{result.get('status')} {error}"
