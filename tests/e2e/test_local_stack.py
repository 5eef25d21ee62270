"""The whole local system as `make local` runs it — moto, the Chalice local server, the SQS poller,
the real MiniLM model — driven over HTTP by the same client `make ingest` uses."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devstack.client import ApiClient
from tests.conftest import ALICE, BOB
from tests.documents import FACT_DOCUMENTS, encrypt_pdf, make_pdf
from tests.local_stack import running_local_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack():
    # Sweeps come seconds, not minutes, after a write (the SQLite index has no lag to wait out).
    with running_local_stack("minilm", QUARRY_SWEEP_DELAY_S="3") as running:
        yield running


@pytest.fixture(scope="module")
def api(stack) -> ApiClient:
    user = stack.users[0]
    return ApiClient(stack.api_url).sign_in(user.username, user.password)


@pytest.fixture(scope="module")
def indexed(api, tmp_path_factory) -> dict[str, dict]:
    folder: Path = tmp_path_factory.mktemp("facts")
    documents = {}
    for name, (data, _) in FACT_DOCUMENTS.items():
        (folder / name).write_bytes(data)
        documents[name] = api.upload(folder / name, metadata={"fixture": name})
    return {name: api.wait(document_id, timeout_s=180) for name, document_id in documents.items()}


def test_health(api):
    assert api.request("GET", "/health") == (200, {"status": "ok"})


def test_every_supported_type_reaches_indexed(indexed):
    for name, document in indexed.items():
        assert document["status"] == "INDEXED", (name, document["error"])
        assert document["chunk_count"] >= 1
        assert document["metadata"] == {"fixture": name}


@pytest.mark.parametrize("mode", ["hybrid", "vector"])
@pytest.mark.parametrize("name", sorted(FACT_DOCUMENTS))
def test_a_question_about_each_file_ranks_it_first(api, indexed, name, mode):
    question = FACT_DOCUMENTS[name][1]
    results = api.search(question, mode=mode, k=5)["results"]
    assert results, question
    assert results[0]["document_id"] == indexed[name]["document_id"], [r["source"]["key"] for r in results]


def test_filters_narrow_results(api, indexed):
    pdf_only = api.search("cable ship", k=10, filters={"content_type": "application/pdf"})["results"]
    assert {r["document_id"] for r in pdf_only} == {indexed["cable.pdf"]["document_id"]}
    by_metadata = api.search("anything", k=10, filters={"metadata": {"fixture": "trams.csv"}})["results"]
    assert {r["document_id"] for r in by_metadata} == {indexed["trams.csv"]["document_id"]}
    assert api.search("risotto", mode="keyword", filters={"key_prefix": "elsewhere/"})["results"] == []


def test_unusable_files_fail_with_clear_reasons(api, tmp_path):
    cases = {
        "locked.pdf": (encrypt_pdf(make_pdf(["confidential"])), "ENCRYPTED"),
        "empty.txt": (b"", "EMPTY"),
    }
    for name, (data, code) in cases.items():
        (tmp_path / name).write_bytes(data)
        document = api.wait(api.upload(tmp_path / name), timeout_s=60)
        assert document["status"] == "FAILED", name
        assert document["error"]["code"] == code
        assert len(document["error"]["message"]) > 15
    # A type Quarry cannot parse is refused before any bytes are sent (a file dropped straight into the
    # bucket still ends FAILED/UNSUPPORTED_TYPE: tests/integration/test_pipeline.py).
    status, body = api.request("POST", "/uploads", {"filename": "sound.wav", "content_type": "audio/x-wav"})
    assert status == 400 and body["error"]["code"] == "unsupported_type", body


def test_malformed_requests_get_4xx_in_the_error_shape(api):
    status, body = api.request("POST", "/search", {"query": "x", "k": 1000})
    assert status == 400 and set(body["error"]) == {"code", "message"}
    status, body = api.request("GET", "/documents/" + "a" * 32)
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.fixture(scope="module")
def bob(stack) -> ApiClient:
    return ApiClient(stack.api_url).sign_in(BOB.username, BOB.password)


def raw_bucket_client():
    from chalicelib.config import settings
    from devstack.cloud import clients

    return clients(settings())["s3"], settings().raw_bucket


def test_two_tenants_cannot_get_list_search_or_delete_each_others_documents(api, bob, indexed, tmp_path):
    path = tmp_path / "lighthouse.txt"
    path.write_bytes(FACT_DOCUMENTS["lighthouse.txt"][0])
    bobs = bob.wait(bob.upload(path), timeout_s=120)
    assert bobs["status"] == "INDEXED"
    alices = indexed["lighthouse.txt"]["document_id"]
    missing = "f" * 32
    for client, own, theirs in ((api, alices, bobs["document_id"]), (bob, bobs["document_id"], alices)):
        for method in ("GET", "DELETE"):
            status, body = client.request(method, f"/documents/{theirs}")
            missing_status, missing_body = client.request(method, f"/documents/{missing}")
            assert status == missing_status == 404
            assert body["error"]["code"] == missing_body["error"]["code"]
            assert body["error"]["message"].replace(theirs, missing) == missing_body["error"]["message"]
        listed = client.request("GET", "/documents?limit=100")[1]["documents"]
        assert own in {d["document_id"] for d in listed} and theirs not in {d["document_id"] for d in listed}
        for mode in ("hybrid", "vector", "keyword"):
            results = client.search(FACT_DOCUMENTS["lighthouse.txt"][1], mode=mode, k=50)["results"]
            assert own in {r["document_id"] for r in results}, mode
            assert theirs not in {r["document_id"] for r in results}, mode
    # Each still has its document: the other's deletes found nothing to delete.
    assert api.request("GET", f"/documents/{alices}")[1]["status"] == "INDEXED"
    assert bob.request("DELETE", f"/documents/{bobs['document_id']}")[0] == 200
    assert api.request("GET", f"/documents/{alices}")[1]["status"] == "INDEXED"


def test_a_direct_drop_is_its_prefixs_tenants_and_one_outside_every_prefix_fails(api, bob):
    from chalicelib.model import document_id_for

    s3, bucket = raw_bucket_client()
    inside = f"tenants/{BOB.tenant}/scans/trams.csv"
    outside = "scans/trams.csv"
    for key in (inside, outside):
        s3.put_object(Bucket=bucket, Key=key, Body=FACT_DOCUMENTS["trams.csv"][0], ContentType="text/csv")
    bobs = bob.wait(document_id_for(bucket, inside), timeout_s=120)
    assert bobs["status"] == "INDEXED" and bobs["source"]["key"] == inside
    assert api.request("GET", f"/documents/{bobs['document_id']}")[0] == 404
    from chalicelib.bootstrap import container

    stray = document_id_for(bucket, outside)
    deadline = time.monotonic() + 120
    while (record := container().catalog.get(stray)) is None or record.status.value != "FAILED":
        assert time.monotonic() < deadline, record
        time.sleep(0.5)
    assert record.error_code == "NO_TENANT" and "tenants/<tenant>/" in record.error_message
    # Nobody sees a document of no tenant.
    assert api.request("GET", f"/documents/{stray}")[0] == bob.request("GET", f"/documents/{stray}")[0] == 404


def test_bad_tokens_are_401_through_the_local_stack(stack, api):
    """Real ID tokens from the stack's own moto pool, changed one way each, sent over HTTP to the
    running API: the same check as in AWS, not chalice local's pass-through."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from devstack.client import ApiClient
    from devstack.identity import cognito_client, sign_in
    from tests.integration.test_sign_in import resigned

    pool = stack.user_pool
    good = api.token
    claims = jwt.decode(good, options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    idp = cognito_client(pool.endpoint_url, pool.region)
    other_client = idp.create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="e2e-other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    bad = {
        "none": None,
        "another key": jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "dummy"}),
        "expired": resigned(good, iat=now - 7200, exp=now - 600),
        "another audience": sign_in(
            other_client, ALICE.username, ALICE.password, pool.region, pool.endpoint_url
        ),
        "another pool": resigned(
            good, iss=f"https://cognito-idp.{pool.region}.amazonaws.com/{pool.region}_other"
        ),
    }
    for case, token in bad.items():
        status, body = ApiClient(stack.api_url, token=token).request("GET", "/documents")
        assert status == 401, (case, status, body)
        assert body["error"]["code"] == "unauthorized", case
    assert ApiClient(stack.api_url, token=good).request("GET", "/documents")[0] == 200


def test_the_local_stack_runs_the_delayed_sweep(api, tmp_path):
    """`make local` consumes the sweep queue: chunks left behind after a delete (as a lagging index
    would leave them) are gone once the delete's sweep has run."""
    from chalicelib import bootstrap
    from chalicelib.model import Chunk, IndexedChunk

    path = tmp_path / "swept.txt"
    path.write_bytes(FACT_DOCUMENTS["lighthouse.txt"][0])
    document = api.wait(api.upload(path), timeout_s=120)
    assert document["status"] == "INDEXED"
    document_id = document["document_id"]
    assert api.request("DELETE", f"/documents/{document_id}")[0] == 200
    index = bootstrap.container().index
    dimensions = bootstrap.container().embedder.dimensions
    index.replace_document(
        document_id,
        "left-behind",
        [
            IndexedChunk(
                chunk=Chunk(f"{document_id}:left-behind:0", document_id, 0, "a chunk the delete missed"),
                vector=[1.0] + [0.0] * (dimensions - 1),
                version="left-behind",
                key="tenants/acme/uploads/swept/swept.txt",
                content_type="text/plain",
                tenant=ALICE.tenant,
                model_id=bootstrap.container().embedder.model_id,
                dimensions=dimensions,
            )
        ],
    )
    assert index.count(document_id) == 1
    deadline = time.monotonic() + 60
    while index.count(document_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert index.count(document_id) == 0, "the stack's sweep never came"


def test_reindex_over_http_runs_the_document_again_and_another_tenant_gets_404(api, bob, tmp_path):
    path = tmp_path / "trams.csv"
    path.write_bytes(FACT_DOCUMENTS["trams.csv"][0])
    before = api.wait(api.upload(path), timeout_s=120)
    assert before["status"] == "INDEXED"
    document_id = before["document_id"]

    assert bob.request("POST", f"/documents/{document_id}/reindex")[0] == 404
    assert api.request("POST", f"/documents/{document_id}/reindex") == (
        202,
        {"document_id": document_id, "status": "INDEXED"},
    )
    deadline = time.monotonic() + 120
    while (after := api.request("GET", f"/documents/{document_id}")[1])["updated_at"] == before["updated_at"]:
        assert time.monotonic() < deadline, "the reindex never ran"
        time.sleep(0.5)
    after = api.wait(document_id, timeout_s=120)
    assert after["status"] == "INDEXED" and after["chunk_count"] == before["chunk_count"]


def test_make_backfill_reaches_the_running_stack_and_indexes_nothing_twice(stack, api, tmp_path):
    import subprocess
    import sys

    from devstack.stage import PROJECT_DIR

    path = tmp_path / "lighthouse.txt"
    path.write_bytes(FACT_DOCUMENTS["lighthouse.txt"][0])
    before = api.wait(api.upload(path), timeout_s=120)
    assert before["status"] == "INDEXED"

    result = subprocess.run(
        [sys.executable, "-m", "devstack", "backfill", "--prefix", f"tenants/{ALICE.tenant}/"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    requested = int(result.stdout.rsplit("backfill: ", 1)[1].split()[0])
    assert requested >= 1
    from chalicelib.bootstrap import container
    from chalicelib.config import settings
    from devstack.cloud import clients
    from tests.integration.pipeline import queue_depth

    deadline = time.monotonic() + 120
    while queue_depth(clients(settings()), stack.resources.queue_url):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    record = container().catalog.get(before["document_id"])
    assert record.status.value == "INDEXED" and record.updated_at == before["updated_at"]


def test_the_stack_runs_the_reaper_through_its_schedule_handler(stack):
    assert stack.reaper.name == "reap_abandoned"
    answer = stack.reaper.run_once()
    assert set(answer) == {"examined", "failed"} and answer["failed"] == []


def test_an_answer_through_the_local_stack_is_extractive_with_citations(api, indexed):
    status, body = api.request(
        "POST", "/answer", {"question": "how many seabirds does the Skerryvore keeper count"}
    )
    assert status == 200, body
    assert body["found"] is True and "1,482 seabirds" in body["answer"]
    # Other tests of this module upload the same lighthouse text again: any copy of it is the right one.
    assert body["citations"] and body["citations"][0]["source"]["key"].endswith("/lighthouse.txt")
    assert "1,482 seabirds" in body["citations"][0]["text"]
    assert all(c["text"] and c["source"]["key"].endswith(".txt") for c in body["citations"][:1])
    assert body["model"] == "quarry/extractive"
    status, body = api.request("POST", "/answer", {"question": "zebra quasar xylophone"})
    assert status == 200
    assert (body["found"], body["answer"], body["citations"]) == (False, "Not found in the documents.", [])
