"""Fault injection for the ingest path: typed wrappers of the ports that fail a deterministic share of
calls, DynamoDB throttling on the real boto3 client, and a worker killed in the middle of a document.

Every wrapper subclasses the port it wraps (a signature change breaks it as it breaks an adapter), draws
from its own seeded random.Random (the same seed fails the same calls in the same order), counts what
it did so a test can prove the fault really fired, and can be switched off (`enabled = False`) before
the invariants are checked through the same container.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from chalicelib.adapters.aws_retry import call_with_backoff
from chalicelib.bootstrap import Container
from chalicelib.model import (
    ClaimOutcome,
    DocumentRecord,
    DocumentState,
    EmbeddingModel,
    ExtractionResult,
    Hit,
    IndexedChunk,
    SearchFilters,
    Status,
    TransientError,
)
from chalicelib.ports import Catalog, Embedder, Extractor, VectorIndex


class WorkerKilled(BaseException):
    """The Lambda runtime killing the worker (timeout, out of memory): not an Exception, so neither the
    ingest service nor Powertools' batch processor can catch it, and the poller deletes nothing."""


@dataclass
class FaultStats:
    calls: int = 0
    failures: int = 0
    failed_documents: set[str] = field(default_factory=set)


class Dice:
    """A seeded share of calls that fail; thread-safe so concurrent pollers draw in some order."""

    def __init__(self, share: float, seed: int):
        if not 0 <= share <= 1:
            raise ValueError("share is a fraction of calls")
        self.share = share
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.enabled = True
        self.stats = FaultStats()

    def roll(self, document_id: str | None = None) -> bool:
        """True when this call must fail."""
        with self._lock:
            self.stats.calls += 1
            fail = self.enabled and self._random.random() < self.share
            if fail:
                self.stats.failures += 1
                if document_id:
                    self.stats.failed_documents.add(document_id)
            return fail


# -- providers -------------------------------------------------------------------------------------


class ThrottlingEmbedder(Embedder):
    """Fails `share` of embed_documents calls with TransientError, as the Titan adapter does once its
    own retries are spent. Texts containing `poison` always fail (a provider that never recovers for
    that document: its message must end in the DLQ with the document FAILED). Queries are not
    throttled: the invariants search through the same container."""

    def __init__(self, inner: Embedder, share: float, seed: int = 1, poison: str | None = None):
        self.inner = inner
        self.model_id = inner.model_id
        self.dimensions = inner.dimensions
        self.dice = Dice(share, seed)
        self.poison = poison
        self.poisoned_calls = 0

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if self.poison and self.dice.enabled and any(self.poison in text for text in texts):
            self.poisoned_calls += 1
            raise TransientError("embedding provider keeps failing for this document (injected)")
        if self.dice.roll():
            raise TransientError("ThrottlingException: Too many requests, please wait (injected)")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def throttling_error(operation: str, code: str = "ThrottlingException", status: int = 429) -> ClientError:
    """The ClientError botocore raises for a throttled Bedrock call."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": "Too many requests, please wait before trying again."},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class ThrottlingExtractor(Extractor):
    """An extraction provider throttled on `share` of documents, failing the way the Bedrock adapter
    does: each attempt of a throttled call gets a ThrottlingException, the adapter's own retry loop
    (aws_retry.call_with_backoff, the code BedrockExtractor runs) backs off until its deadline, and then
    raises TransientError so the message is retried. `retry_deadline_s` stands in for the adapter's 60 s.
    """

    name = "throttling"

    def __init__(self, inner: Extractor, share: float, seed: int = 2, retry_deadline_s: float = 0.05):
        self.inner = inner
        self.dice = Dice(share, seed)
        self.retry_deadline_s = retry_deadline_s
        self.provider_attempts = 0

    def extract(
        self,
        text: str,
        title_hint: str | None = None,
        content_type: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> ExtractionResult:
        throttled = self.dice.roll()

        def converse() -> ExtractionResult:
            self.provider_attempts += 1
            if throttled:
                raise throttling_error("Converse")
            return self.inner.extract(text, title_hint=title_hint, content_type=content_type, schema=schema)

        return call_with_backoff(converse, deadline_s=self.retry_deadline_s, base_s=0.005, max_s=0.02)


# -- the index -------------------------------------------------------------------------------------


class FlakyIndex(VectorIndex):
    """Fails `share` of replace_document calls with TransientError.

    The embedded index writes a document's chunks in one SQLite transaction and has no bulk items to
    fail one by one, so OpenSearch's partial bulk failure ("errors": true with some items rejected) is
    simulated: with `partial=True` a failing call first writes a prefix of the chunks for real, as the
    accepted items of a bulk request would be, then raises. The retry must replace that prefix.
    """

    def __init__(
        self,
        inner: VectorIndex,
        share: float,
        seed: int = 3,
        partial: bool = True,
        first_write_partial: bool = False,
    ):
        self.inner = inner
        self.dice = Dice(share, seed)
        self.partial = partial
        # Also fail the first write of every multi-chunk document partially, so a run surely has some.
        self.first_write_partial = first_write_partial
        self.partial_writes = 0
        self._written: set[str] = set()

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        first = document_id not in self._written
        self._written.add(document_id)
        forced = self.first_write_partial and first and len(chunks) > 1 and self.dice.enabled
        if forced or self.dice.roll(document_id):
            if self.partial and len(chunks) > 1:
                self.inner.replace_document(document_id, version, chunks[: len(chunks) // 2])
                self.partial_writes += 1
            raise TransientError(
                f"bulk request for {document_id}: some items were rejected with 429 (injected)"
            )
        self.inner.replace_document(document_id, version, chunks)

    def delete_document(self, document_id: str) -> int:
        return self.inner.delete_document(document_id)

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        return self.inner.sweep(document_id, keep_version)

    def count(self, document_id: str | None = None) -> int:
        return self.inner.count(document_id)

    def embedding_model(self) -> EmbeddingModel | None:
        return self.inner.embedding_model()

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        return self.inner.search_vector(vector, k, filters, model)

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        return self.inner.search_keyword(query, k, filters)


class KillingIndex(FlakyIndex):
    """Kills the worker in the middle of `share` of documents, the first time each is indexed: half its
    chunks are written, the catalog says PROCESSING under this worker's claim, the processed output is
    not written yet. The message comes back after the visibility timeout; the retry has to wait out the
    dead worker's lease and then finish the document."""

    def __init__(self, inner: VectorIndex, share: float, seed: int = 4, max_kills: int | None = None):
        super().__init__(inner, share, seed, partial=True)
        self.max_kills = max_kills
        self.killed: list[str] = []
        # A batch's records run on threads: deciding and counting a kill must be one step, or two
        # records both see a spare kill and the cap is exceeded.
        self._lock = threading.Lock()

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        with self._lock:
            spare = self.max_kills is None or len(self.killed) < self.max_kills
            kill = document_id not in self.killed and spare and self.dice.roll(document_id)
            if kill:
                self.killed.append(document_id)
        if kill:
            self.inner.replace_document(document_id, version, chunks[: max(1, len(chunks) // 2)])
            raise WorkerKilled(f"worker killed while indexing {document_id}")
        self.inner.replace_document(document_id, version, chunks)


class KillingCatalog(Catalog):
    """Kills the worker when it first reads a poisoned document's record, `kills` times per document:
    a delivery that dies before it could claim the document (its batch's neighbour ran the Lambda out
    of memory, or the invocation timed out on a slow catalog), so the catalog records no attempt."""

    def __init__(self, inner: Catalog, kills: int):
        self.inner = inner
        self.kills = kills
        self.poisoned: set[str] = set()
        self.killed: list[str] = []
        self._lock = threading.Lock()

    def get(self, document_id: str) -> DocumentRecord | None:
        with self._lock:
            kill = document_id in self.poisoned and self.killed.count(document_id) < self.kills
            if kill:
                self.killed.append(document_id)
        if kill:
            raise WorkerKilled(f"worker killed before claiming {document_id}")
        return self.inner.get(document_id)

    def get_many(self, document_ids: Collection[str]) -> dict[str, DocumentState]:
        return self.inner.get_many(document_ids)

    def record_usage(self, document_id: str, usage: dict[str, Any]) -> None:
        self.inner.record_usage(document_id, usage)

    def add_day_usage(self, tenant: str, day: str, documents: dict[str, int], usage: dict[str, Any]) -> None:
        self.inner.add_day_usage(tenant, day, documents, usage)

    def usage_by_day(self, tenant: str, days: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self.inner.usage_by_day(tenant, days)

    def put(self, record: DocumentRecord, claim_token: str | None = None) -> None:
        self.inner.put(record, claim_token)

    def claim(self, record: DocumentRecord, now: str, force: bool = False) -> ClaimOutcome:
        return self.inner.claim(record, now, force)

    def list(self, tenant: str, status: Status | None, limit: int, cursor: str | None):
        return self.inner.list(tenant, status, limit, cursor)

    def list_by_status(self, status: Status, limit: int, cursor: str | None):
        return self.inner.list_by_status(status, limit, cursor)

    def delete(self, document_id: str) -> None:
        self.inner.delete(document_id)


# -- DynamoDB throttling on the real boto3 client --------------------------------------------------


class _Body:
    """The raw body botocore reads an AWSResponse's content from."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def stream(self, **_: Any):
        yield self._data.read()


class DynamoThrottle:
    """DynamoDB throttling on the catalog's own boto3 client, from a `before-send` handler: a throttled
    request is answered, without being sent, with the 400 ProvisionedThroughputExceededException (or
    ThrottlingException) DynamoDB returns, which botocore parses like a real response, so its retry
    handler (the client's adaptive mode: backoff, client-side rate limiting, 5 attempts) does the rest.

    Two kinds of throttling, both counted per attempt:
    - an episode: `share` of attempts are throttled until `episode` throttles have been injected (as a
      hot partition or an on-demand table's burst does), then the table recovers; botocore's retries
      absorb these;
    - storms: the `storm_at`-th, 2*`storm_at`-th... PutItem call (up to `storms` of them) fails on every
      attempt (recognised by the amz-sdk-invocation-id header botocore keeps across attempts), so it
      exhausts botocore's retries and the ClientError reaches the ingest service, which must let the
      message be retried and still end consistent. A storm answers 500 InternalServerError, DynamoDB's
      other retryable failure, unless `throttling_storms`: five throttled attempts cost botocore ~15 s of
      backoff and slow the client's rate limiter for ~20 s more (measured), too long for a test budget.
    """

    CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")

    def __init__(
        self,
        client: Any,
        share: float,
        seed: int = 5,
        episode: int = 12,
        storm_at: int = 25,
        storms: int = 1,
        throttling_storms: bool = False,
    ):
        self.client = client
        self.dice = Dice(share, seed)
        self.episode = episode
        self.storm_at = storm_at
        self.storms = storms
        self.throttling_storms = throttling_storms
        self.by_operation: dict[str, int] = {}
        self.storm_calls: list[str] = []
        self._storming: set[str] = set()
        self._puts = 0
        self._lock = threading.Lock()
        self._codes = random.Random(seed + 1)

    def install(self) -> DynamoThrottle:
        self.client.meta.events.register("before-send.dynamodb.*", self._before_send, unique_id=id(self))
        return self

    def uninstall(self) -> None:
        self.client.meta.events.unregister("before-send.dynamodb.*", unique_id=id(self))

    @property
    def throttled(self) -> int:
        return sum(self.by_operation.values())

    def _fault(self, request: Any) -> str | None:
        """ "throttle", "storm" or None (send the request)."""
        operation = _header(request, "X-Amz-Target").rpartition(".")[2]
        invocation = _header(request, "amz-sdk-invocation-id")
        first_attempt = _header(request, "amz-sdk-request").startswith("attempt=1;")
        with self._lock:
            if invocation and invocation in self._storming:
                return "storm"
            if operation == "PutItem" and first_attempt and invocation:
                self._puts += 1
                if self._puts % self.storm_at == 0 and len(self.storm_calls) < self.storms:
                    self._storming.add(invocation)
                    self.storm_calls.append(invocation)
                    return "storm"
            if self.dice.stats.failures >= self.episode:
                return None
        return "throttle" if self.dice.roll() else None

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        fault = self._fault(request) if self.dice.enabled else None
        if fault is None:
            return None
        operation = _header(request, "X-Amz-Target").rpartition(".")[2] or "?"
        with self._lock:
            self.by_operation[operation] = self.by_operation.get(operation, 0) + 1
            code = self._codes.choice(self.CODES)
        if fault == "storm" and not self.throttling_storms:
            status, code, message = 500, "InternalServerError", "Internal server error (injected)"
        else:
            status, message = 400, "The level of configured provisioned throughput was exceeded (injected)"
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
        return AWSResponse(request.url, status, headers, _Body(body))


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name) or b""
    return value.decode() if isinstance(value, bytes) else value


def dedicated_client(service: str, container: Container) -> Any:
    """A client built by the product's own factory (aws_clients.aws_client: same retry mode, attempts and
    timeouts) for the container's settings, but in a thread of its own. aws_client caches one client per
    thread, service and region whatever the endpoint, so a client made here is neither one another
    test's container already shares (a handler registered on it cannot leak) nor one pointing at another
    test's moto server."""
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault("client", container.storage_client(service)))
    thread.start()
    thread.join()
    return box["client"]


def pin_aws_adapters(container: Container) -> Container:
    """Build the container's S3 and DynamoDB adapters on dedicated clients (see dedicated_client)."""
    from chalicelib.adapters.dynamo_catalog import DynamoCatalog
    from chalicelib.adapters.s3_store import S3ObjectStore

    container.__dict__["object_store"] = S3ObjectStore(dedicated_client("s3", container))
    container.__dict__["catalog"] = DynamoCatalog(
        dedicated_client("dynamodb", container), container.settings.documents_table
    )
    rebuild_services(container)
    return container


def throttle_catalog(container: Container, share: float, **options: Any) -> DynamoThrottle:
    """Serve the container's catalog from a DynamoDB client that throttles as DynamoThrottle says."""
    from chalicelib.adapters.dynamo_catalog import DynamoCatalog

    client = dedicated_client("dynamodb", container)
    container.__dict__["catalog"] = DynamoCatalog(client, container.settings.documents_table)
    rebuild_services(container)
    return DynamoThrottle(client, share, **options).install()


# -- wiring ----------------------------------------------------------------------------------------


def rebuild_services(container: Container) -> None:
    """Forget the built services so they are rebuilt over the replaced adapters."""
    for name in ("ingest", "search", "documents", "sweeps", "reaper"):
        container.__dict__.pop(name, None)


def replace_adapter(container: Container, name: str, build: Callable[[Any], Any]) -> Any:
    """Wrap the container's adapter `name` (embedder, extractor, index, catalog) with `build(current)`."""
    wrapped = build(getattr(container, name))
    container.__dict__[name] = wrapped
    rebuild_services(container)
    return wrapped
