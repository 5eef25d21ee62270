"""One Catalog contract, run against DynamoDB (on moto: the real conditional expressions) and the fake
the unit tests use, so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.adapters.dynamo_catalog import DynamoCatalog
from chalicelib.model import (
    ClaimLost,
    ClaimOutcome,
    DocumentRecord,
    DocumentState,
    InvalidRequest,
    Status,
    TransientError,
)
from tests.fakes import MemoryCatalog

T0, T1, T2 = "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:30.000Z", "2026-01-01T00:10:00.000Z"


def record(document_id="a" * 32, **changes) -> DocumentRecord:
    base = DocumentRecord(
        document_id=document_id,
        status=Status.PENDING,
        bucket="raw",
        key="k.txt",
        created_at=T0,
        updated_at=T0,
        tenant="acme",
    )
    return replace(base, **changes)


def processing(token: str, etag: str = "v1", lease: str = "2026-01-01T00:05:00.000Z") -> DocumentRecord:
    return record(status=Status.PROCESSING, etag=etag, claim_token=token, lease_expires_at=lease)


@pytest.fixture(params=["dynamodb", "memory"])
def catalog(request):
    if request.param == "memory":
        return MemoryCatalog()
    return request.getfixturevalue("container").catalog


def test_round_trip_keeps_every_field(catalog):
    full = record(
        status=Status.INDEXED,
        etag="e",
        size=12,
        content_type="text/plain",
        metadata={"team": "ops"},
        chunk_count=3,
        extraction={"data": {"title": "T", "score": 0.5, "nested": [1, {"a": None}]}},
        timings_ms={"parse": 1.25},
        attempts=2,
        indexed_etag="e",
    )
    catalog.put(full)
    assert catalog.get(full.document_id) == full
    assert catalog.get("b" * 32) is None


def test_first_claim_wins_and_a_live_lease_blocks_others(catalog):
    assert catalog.claim(processing("w1"), now=T0) == ClaimOutcome.CLAIMED
    assert catalog.claim(processing("w2"), now=T1) == ClaimOutcome.BUSY
    assert catalog.get("a" * 32).claim_token == "w1"


def test_an_expired_lease_can_be_taken_over(catalog):
    catalog.claim(processing("w1"), now=T0)
    assert catalog.claim(processing("w2"), now=T2) == ClaimOutcome.CLAIMED
    assert catalog.get("a" * 32).claim_token == "w2"


def test_an_indexed_version_is_not_claimed_again_but_a_new_version_is(catalog):
    catalog.put(record(status=Status.INDEXED, etag="v1"))
    assert catalog.claim(processing("w1", etag="v1"), now=T0) == ClaimOutcome.ALREADY_INDEXED
    assert catalog.claim(processing("w1", etag="v2"), now=T0) == ClaimOutcome.CLAIMED


def test_pending_and_failed_documents_can_be_claimed(catalog):
    catalog.put(record(status=Status.FAILED, etag="v1", error_code="CORRUPT"))
    assert catalog.claim(processing("w1", etag="v1"), now=T0) == ClaimOutcome.CLAIMED


def test_a_put_under_a_lost_claim_is_refused(catalog):
    catalog.claim(processing("w1"), now=T0)
    catalog.claim(processing("w2"), now=T2)
    with pytest.raises(ClaimLost):
        catalog.put(record(status=Status.INDEXED, etag="v1"), claim_token="w1")
    catalog.put(record(status=Status.INDEXED, etag="v1"), claim_token="w2")
    assert catalog.get("a" * 32).status == Status.INDEXED


def test_listing_by_status_pages_without_repeats(catalog):
    for i in range(7):
        catalog.put(
            record(
                document_id=f"{i:032x}",
                status=Status.FAILED if i % 2 else Status.INDEXED,
                updated_at=f"2026-01-01T00:00:0{i}.000Z",
            )
        )
    seen, cursor = [], None
    while True:
        page, cursor = catalog.list("acme", Status.INDEXED, 2, cursor)
        seen += [r.document_id for r in page]
        if not cursor:
            break
    assert sorted(seen) == [f"{i:032x}" for i in (0, 2, 4, 6)] and len(seen) == len(set(seen))


def every_page(catalog, tenant, status, limit=2):
    seen, cursor = [], None
    while True:
        page, cursor = catalog.list(tenant, status, limit, cursor)
        seen += [r.document_id for r in page]
        if not cursor:
            return seen


def two_tenants(catalog) -> None:
    """acme's documents 0..4 and globex's 5..8, of both statuses, updated one second apart."""
    for i in range(9):
        catalog.put(
            record(
                document_id=f"{i:032x}",
                tenant="acme" if i < 5 else "globex",
                status=Status.FAILED if i % 2 else Status.INDEXED,
                updated_at=f"2026-01-01T00:00:0{i}.000Z",
            )
        )


def test_a_listing_shows_only_its_tenants_documents(catalog):
    two_tenants(catalog)
    acme = every_page(catalog, "acme", None)
    assert sorted(acme) == [f"{i:032x}" for i in range(5)] and len(acme) == len(set(acme))
    assert sorted(every_page(catalog, "globex", None)) == [f"{i:032x}" for i in range(5, 9)]
    assert sorted(every_page(catalog, "acme", Status.FAILED)) == [f"{i:032x}" for i in (1, 3)]
    assert sorted(every_page(catalog, "globex", Status.INDEXED)) == [f"{i:032x}" for i in (6, 8)]
    assert catalog.list("initech", None, 10, None) == ([], None)
    # A record of no tenant (an object dropped outside every tenant prefix) is in no listing.
    catalog.put(record(document_id="f" * 32, tenant=None, status=Status.FAILED))
    assert "f" * 32 not in every_page(catalog, "acme", None) + every_page(catalog, "acme", Status.FAILED)
    assert catalog.get("f" * 32).tenant is None


def test_a_listing_follows_a_status_change_of_a_document(catalog):
    catalog.put(record(status=Status.PROCESSING))
    catalog.put(record(status=Status.INDEXED, updated_at=T1))
    assert every_page(catalog, "acme", Status.PROCESSING) == []
    assert every_page(catalog, "acme", Status.INDEXED) == ["a" * 32]


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [(("globex", None), ("acme", None)), (("globex", Status.INDEXED), ("acme", Status.INDEXED)),
     (("acme", Status.INDEXED), ("acme", None)), (("acme", None), ("acme", Status.FAILED))],
)  # fmt: skip
def test_a_cursor_from_another_listing_is_refused(catalog, theirs, ours):
    two_tenants(catalog)
    _, cursor = catalog.list(*theirs, 1, None)
    assert cursor
    with pytest.raises(InvalidRequest) as refused:
        catalog.list(*ours, 10, cursor)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "eyJkb2N1bWVudF9pZCI6IDF9", "W10="])
def test_a_forged_cursor_is_refused(catalog, cursor):
    two_tenants(catalog)
    with pytest.raises(InvalidRequest) as refused:
        catalog.list("acme", None, 10, cursor)
    assert refused.value.code == "invalid_cursor"


def test_get_many_reads_every_known_document_past_one_batch_and_leaves_out_unknown_ones(catalog):
    expected = {}
    for i in range(230):
        status = (Status.INDEXED, Status.PROCESSING, Status.FAILED, Status.DELETED)[i % 4]
        done = record(
            document_id=f"{i:032x}",
            tenant=None if i == 7 else ("acme" if i % 3 else "globex"),
            status=status,
            etag=f"e{i}",
            indexed_etag=f"e{i - 1}" if status in (Status.INDEXED, Status.PROCESSING) else None,
            extraction={"data": {"summary": "x" * 500}},
        )
        catalog.put(done)
        expected[done.document_id] = DocumentState(
            done.document_id, done.tenant, done.status, done.etag, done.indexed_etag
        )
    unknown = [f"{i:032x}" for i in range(900, 920)]
    asked = [*reversed(expected), *unknown, *list(expected)[:5]]  # duplicates are read once
    assert catalog.get_many(asked) == expected
    assert catalog.get_many(unknown) == {}
    assert catalog.get_many([]) == {}


class UnprocessedHalf:
    """The moto client, except that the first `throttled` BatchGetItem answers leave the second half
    of their keys unprocessed, as DynamoDB does under throttling."""

    def __init__(self, client, throttled: int):
        self._client = client
        self.throttled = throttled
        self.pages: list[int] = []
        self.requests: list[dict] = []

    def batch_get_item(self, RequestItems):
        ((table, request),) = RequestItems.items()
        self.pages.append(len(request["Keys"]))
        self.requests.append(request)
        if self.throttled == 0:
            return self._client.batch_get_item(RequestItems=RequestItems)
        self.throttled -= 1
        keys = request["Keys"]
        half = len(keys) // 2
        answer = self._client.batch_get_item(RequestItems={table: {**request, "Keys": keys[:half]}})
        answer["UnprocessedKeys"] = {table: {**request, "Keys": keys[half:]}}
        return answer


def test_dynamodb_get_many_pages_by_100_keys_with_a_projection_and_retries_unprocessed_keys(container, aws):
    table = container.settings.documents_table
    for i in range(150):
        container.catalog.put(record(document_id=f"{i:032x}", status=Status.INDEXED, etag="v1"))
    flaky = UnprocessedHalf(aws["dynamodb"], throttled=2)
    waits: list[float] = []
    catalog = DynamoCatalog(flaky, table, sleep=waits.append)
    found = catalog.get_many([f"{i:032x}" for i in range(150)] + ["f" * 32])
    assert sorted(found) == [f"{i:032x}" for i in range(150)]
    # Page one (100 keys) is half answered twice, its last 25 keys on the third call; then page two.
    assert flaky.pages == [100, 50, 25, 51] and len(waits) == 2
    assert all(0 <= w <= 0.5 for w in waits)
    for request in flaky.requests:
        assert request["ConsistentRead"] is True
        named = {
            request["ExpressionAttributeNames"][n.strip()] for n in request["ProjectionExpression"].split(",")
        }
        assert named == {"document_id", "tenant", "status", "etag", "indexed_etag"}


def test_dynamodb_get_many_gives_up_as_transient_when_keys_stay_unprocessed(container, aws):
    container.catalog.put(record(status=Status.INDEXED, etag="v1"))
    flaky = UnprocessedHalf(aws["dynamodb"], throttled=10**6)
    catalog = DynamoCatalog(flaky, container.settings.documents_table, unprocessed_deadline_s=0.0)
    with pytest.raises(TransientError):
        catalog.get_many(["a" * 32, "b" * 32])


def test_a_forced_claim_takes_an_indexed_version_but_never_a_live_lease(catalog):
    catalog.put(record(status=Status.INDEXED, etag="v1"))
    assert catalog.claim(processing("w1", etag="v1"), now=T0, force=True) == ClaimOutcome.CLAIMED
    assert catalog.claim(processing("w2", etag="v1"), now=T1, force=True) == ClaimOutcome.BUSY
    assert catalog.get("a" * 32).claim_token == "w1"


def test_listing_one_status_across_tenants_pages_oldest_first(catalog):
    times = [f"2026-01-01T00:00:0{i}.000Z" for i in range(5)]
    for i, updated in enumerate(times):
        tenant = "acme" if i % 2 else "globex"
        catalog.put(record(f"{i:032x}", status=Status.PROCESSING, updated_at=updated, tenant=tenant))
    catalog.put(record("f" * 32, status=Status.INDEXED, updated_at=T0))
    seen, cursor = [], None
    while True:
        page, cursor = catalog.list_by_status(Status.PROCESSING, 2, cursor)
        assert len(page) <= 2
        seen += page
        if cursor is None:
            break
    assert [r.updated_at for r in seen] == times
    assert {r.tenant for r in seen} == {"acme", "globex"}
