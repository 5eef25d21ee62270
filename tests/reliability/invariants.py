"""What must hold after any ingest run, whatever failed on the way:

1. every uploaded object (and every catalog record) has a terminal status, FAILED ones with a code and
   a message a person can act on;
2. every INDEXED document has exactly its own chunks in the index, each once (vector and keyword side),
   and no other document has any;
3. catalog, index and processed output agree: one processed/{id}.json per INDEXED document, holding
   the same version and the same chunks the index holds, and nothing else;
4. nothing is in the DLQ whose document is not FAILED in the catalog (peeked without consuming);
5. no chunk in the index for a document that is not INDEXED at that version, and no search hit for one
   (check_no_stray_chunks, which a run whose index may lag calls once its sweeps have run; and a search
   in each mode through the search service).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.adapters.sqlite.keyword import query_terms
from chalicelib.adapters.sqlite.live import LiveSqliteIndex
from chalicelib.api.requests import SearchRequest
from chalicelib.bootstrap import Container
from chalicelib.chunking import chunk_id_for
from chalicelib.events import decode_body
from chalicelib.keys import processed_key
from chalicelib.model import DocumentRecord, ErrorCode, SearchFilters, Status, document_id_for
from devstack.cloud import Resources
from tests.integration.pipeline import TENANT

TERMINAL = {Status.INDEXED, Status.FAILED, Status.DELETED}
ERROR_CODES = {code.value for code in ErrorCode}
PAGE = 1000  # catalog page size: the adapter's own limit is DynamoDB's 1 MB page, not the API's 100


@dataclass
class Report:
    statuses: Counter = field(default_factory=Counter)
    records: dict[str, DocumentRecord] = field(default_factory=dict)
    chunks: int = 0
    dlq_documents: list[str] = field(default_factory=list)

    def ids_with(self, status: Status) -> set[str]:
        return {d for d, r in self.records.items() if r.status == status}


def check_invariants(
    container: Container, aws: dict[str, Any], resources: Resources, document_ids: Iterable[str]
) -> Report:
    """Assert the four invariants over everything the stack holds; `document_ids` are the documents the
    test uploaded (each must be in the catalog). Returns what was found, for further assertions."""
    settings = container.settings
    wanted = list(dict.fromkeys(document_ids))
    with ThreadPoolExecutor(8) as pool:
        report = Report(records=_catalog(container))
        raw_ids = {document_id_for(settings.raw_bucket, key) for key in _keys(aws, settings.raw_bucket)}

        # 1. Terminal statuses, with reasons.
        missing = [d for d in [*wanted, *raw_ids] if d not in report.records]
        assert not missing, f"uploaded objects with no catalog record: {missing[:10]}"
        for record in report.records.values():
            report.statuses[record.status.value] += 1
            assert record.status in TERMINAL, (
                f"{record.document_id} ({record.key}) is still {record.status.value}"
            )
            if record.status == Status.FAILED:
                assert record.error_code in ERROR_CODES, (record.document_id, record.error_code)
                assert record.error_message and record.error_message.strip(), record.document_id
                assert record.chunk_count == 0, record.document_id
            if record.status == Status.INDEXED:
                assert record.error_code is None and record.error_message is None, record.document_id
                assert record.chunk_count >= 1, record.document_id
                assert record.processed_key == processed_key(TENANT, record.document_id)
        views = list(
            pool.map(
                functools.partial(container.documents.get, TENANT), sorted(report.ids_with(Status.FAILED))
            )
        )
        for view in views:
            assert view["error"]["code"] and view["error"]["message"], view
        _listing_agrees(container, report)

        # 2. Each INDEXED document has exactly its own chunks, once.
        indexed = sorted(report.ids_with(Status.INDEXED))
        report.chunks = container.index.count()
        counts = dict(zip(report.records, pool.map(container.index.count, report.records), strict=True))
        for document_id, record in report.records.items():
            expected = record.chunk_count if record.status == Status.INDEXED else 0
            assert counts[document_id] == expected, (
                f"{document_id} is {record.status.value} with chunk_count {record.chunk_count} "
                f"but the index holds {counts[document_id]} of its chunks"
            )
        assert report.chunks == sum(counts.values()), (
            f"the index holds {report.chunks} chunks, {report.chunks - sum(counts.values())} of them of "
            "documents the catalog does not know"
        )
        in_index = _every_chunk(container, report.chunks)

        # 3. Processed output agrees with the catalog and the index.
        processed = set(_keys(aws, settings.processed_bucket))
        wanted_outputs = {processed_key(TENANT, d) for d in indexed}
        assert processed == wanted_outputs, (
            f"processed outputs of no INDEXED document: {sorted(processed - wanted_outputs)[:5]}; "
            f"INDEXED documents with no output: {sorted(wanted_outputs - processed)[:5]}"
        )
        outputs = dict(zip(indexed, pool.map(lambda d: _processed(aws, settings, d), indexed), strict=True))
        assert set(in_index) == set(indexed)
        for document_id in indexed:
            record, output = report.records[document_id], outputs[document_id]
            chunk_ids = [c["chunk_id"] for c in output["chunks"]]
            assert output["document_id"] == document_id
            assert output["source"]["etag"] == record.etag and output["source"]["key"] == record.key
            assert len(chunk_ids) == len(set(chunk_ids)) == record.chunk_count, document_id
            assert [c["ordinal"] for c in output["chunks"]] == list(range(record.chunk_count))
            assert sorted(in_index[document_id]) == sorted(chunk_ids), (
                f"{document_id}: the index holds chunks {sorted(in_index[document_id])[:3]}..., the "
                f"processed output (version {record.etag}) names {sorted(chunk_ids)[:3]}..."
            )
        list(pool.map(lambda d: _keyword_side(container, d, outputs[d]), indexed))

        # 4. The DLQ holds only messages about FAILED documents.
        for body in peek_queue(aws, resources.dlq_url):
            for ref in decode_body(body):
                record = report.records.get(ref.document_id)
                assert record is not None and record.status == Status.FAILED, (
                    f"DLQ message about {ref.key} ({ref.document_id}) whose document is "
                    f"{record.status.value if record else 'not in the catalog'}"
                )
                report.dlq_documents.append(ref.document_id)

        # 5. Nothing stored or found of a document that is not INDEXED at that version, in the index and
        # through the search service the API answers with (each mode, as deep as a request may go).
        check_no_stray_chunks(container)
        for mode in ("vector", "keyword", "hybrid"):
            request = SearchRequest(query="the report of the survey", mode=mode, k=100)
            shown = {hit["document_id"] for hit in container.search.search(TENANT, request)["results"]}
            not_indexed = {d: report.records[d].status.value for d in shown if d not in indexed}
            assert not not_indexed, f"{mode} search shows documents that are not INDEXED: {not_indexed}"
    return report


def check_no_stray_chunks(container: Container, queries: Iterable[str] = ()) -> dict[tuple[str, str], int]:
    """5. Every chunk stored in the index belongs to a document INDEXED at that chunk's version, and
    no search (a vector search reaching every chunk, and a keyword search for each of `queries`) hits
    anything else. Reads what is stored from the SQLite file under any wrappers (`.inner`), so chunks
    a lagging index hides from its own lookups are counted too. Returns the chunks per (document,
    version)."""
    records = _catalog(container)
    stored = stored_versions(container.index)
    strays = {
        (document_id, version): count
        for (document_id, version), count in stored.items()
        if not _indexed_at(records.get(document_id), version)
    }
    assert not strays, "chunks of documents not INDEXED at their version: " + ", ".join(
        f"{n} of {d} version {v} ({records[d].status.value if d in records else 'no record'})"
        for (d, v), n in list(strays.items())[:5]
    )
    current = {
        chunk_id_for(d, r.etag or "", ordinal)
        for d, r in records.items()
        if r.status == Status.INDEXED
        for ordinal in range(r.chunk_count)
    }
    dimensions = container.embedder.dimensions
    total = sum(stored.values())
    everything = SearchFilters(tenant=TENANT)
    hits = container.index.search_vector([1.0] + [0.0] * (dimensions - 1), total + 1, everything)
    for query in queries:
        hits += container.index.search_keyword(query, total + 1, everything)
    stray_hits = [hit for hit in hits if hit.chunk_id not in current]
    assert not stray_hits, "hits of documents not INDEXED at that version: " + ", ".join(
        f"{h.chunk_id} of {h.document_id} "
        f"({records[h.document_id].status.value if h.document_id in records else 'no record'})"
        for h in stray_hits[:5]
    )
    return stored


def _indexed_at(record: DocumentRecord | None, version: str) -> bool:
    return record is not None and record.status == Status.INDEXED and record.etag == version


def stored_versions(index: object) -> Counter:
    """Chunks per (document, version) in the SQLite file behind `index` and its wrappers."""
    while not isinstance(index, SqliteVectorIndex):
        if isinstance(index, LiveSqliteIndex):
            index = index.current()
            continue
        inner = getattr(index, "inner", None)
        assert inner is not None, f"{type(index).__name__} wraps no SQLite index to read chunks from"
        index = inner
    db = index._connection()
    rows = db.execute("SELECT document_id, version, count(*) FROM chunks GROUP BY document_id, version")
    return Counter({(document_id, version): count for document_id, version, count in rows})


def _catalog(container: Container) -> dict[str, DocumentRecord]:
    records: dict[str, DocumentRecord] = {}
    cursor = None
    while True:
        page, cursor = container.catalog.list(TENANT, None, PAGE, cursor)
        for record in page:
            assert record.document_id not in records, f"catalog scan returned {record.document_id} twice"
            records[record.document_id] = record
        if not cursor:
            return records


def _listing_agrees(container: Container, report: Report) -> None:
    """GET /documents?status=X (the by-tenant-status index) lists exactly the records with that status."""
    for status in Status:
        listed: set[str] = set()
        cursor = None
        while True:
            page, cursor = container.catalog.list(TENANT, status, PAGE, cursor)
            listed.update(r.document_id for r in page)
            if not cursor:
                break
        assert listed == report.ids_with(status), f"listing by status {status.value} disagrees with the table"


def _every_chunk(container: Container, total: int) -> dict[str, list[str]]:
    """Every chunk in the index, by document, from one unfiltered vector search for all of them."""
    dimensions = container.embedder.dimensions
    hits = container.index.search_vector(
        [1.0] + [0.0] * (dimensions - 1), total + 1, SearchFilters(tenant=TENANT)
    )
    chunk_ids = [hit.chunk_id for hit in hits]
    assert len(hits) == total, f"vector search reaches {len(hits)} chunks; the index counts {total}"
    duplicates = [c for c, n in Counter(chunk_ids).items() if n > 1]
    assert not duplicates, f"chunks indexed twice: {duplicates[:5]}"
    by_document: dict[str, list[str]] = {}
    for hit in hits:
        by_document.setdefault(hit.document_id, []).append(hit.chunk_id)
    return by_document


def _keyword_side(container: Container, document_id: str, output: dict[str, Any]) -> None:
    """The keyword (FTS) side holds the same chunks: a query for the document's first words, limited to
    the document, finds only its current chunks, each once."""
    chunks = output["chunks"]
    # A few of its longest words: rare enough that FTS5 answers fast even over thousands of documents.
    words = sorted(set(chunks[0]["text"].split()[:60]), key=lambda w: (-len(w), w))
    query = " ".join(words[:3])
    hits = container.index.search_keyword(
        query, 2 * len(chunks) + 5, SearchFilters(tenant=TENANT, document_ids=(document_id,))
    )
    ids = [hit.chunk_id for hit in hits]
    assert len(ids) == len(set(ids)), f"{document_id}: keyword search returns a chunk twice"
    assert set(ids) <= {c["chunk_id"] for c in chunks}, f"{document_id}: keyword search finds stale chunks"
    if query_terms(query):
        assert ids, f"{document_id}: keyword search for its own first words finds nothing"


def _keys(aws: dict[str, Any], bucket: str) -> list[str]:
    keys: list[str] = []
    for page in aws["s3"].get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _processed(aws: dict[str, Any], settings: Any, document_id: str) -> dict[str, Any]:
    body = aws["s3"].get_object(Bucket=settings.processed_bucket, Key=processed_key(TENANT, document_id))[
        "Body"
    ]
    return json.loads(body.read())


def peek_queue(aws: dict[str, Any], queue_url: str) -> list[str]:
    """Every message body in the queue, left in it: each is received with a long visibility timeout
    (so one pass sees each once), then made visible again at once."""
    sqs = aws["sqs"]
    received: dict[str, dict[str, Any]] = {}
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=120, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            received[message["MessageId"]] = message
    for message in received.values():
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [m["Body"] for m in received.values()]
