"""Catalog records for documents a benchmark writes straight into the index: search shows only the
chunks of documents the catalog holds INDEXED at the chunk's version (chalicelib/search_check.py)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SEEDED_AT = "2026-01-01T00:00:00.000Z"


def record_indexed(settings: Any, documents: Iterable[tuple[str, str, str]], version: str = "v1") -> int:
    """Write an INDEXED record at `version` for each (document_id, key, tenant) to the catalog that
    `settings` names; returns how many were written."""
    from chalicelib.bootstrap import Container
    from chalicelib.model import DocumentRecord, Status

    records = [
        DocumentRecord(
            document_id,
            Status.INDEXED,
            settings.raw_bucket,
            key,
            SEEDED_AT,
            SEEDED_AT,
            tenant=tenant,
            etag=version,
            indexed_etag=version,
        )
        for document_id, key, tenant in documents
    ]
    catalog = Container(settings).catalog
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(catalog.put, records))
    return len(records)
