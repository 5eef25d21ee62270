"""The whole local system as `make local` runs it — moto, the Chalice local server, the SQS poller,
the real MiniLM model — driven over HTTP by the same client `make ingest` uses."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from devstack.client import ApiClient
from devstack.runner import LocalStack
from tests.conftest import free_port
from tests.documents import FACT_DOCUMENTS, encrypt_pdf, make_pdf

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack():
    saved = dict(os.environ)
    home = tempfile.mkdtemp(prefix="quarry-e2e-")
    os.environ.update(
        {
            "QUARRY_AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
            "QUARRY_HOME": home,
            "QUARRY_EMBEDDER": "minilm",
            "QUARRY_EXTRACTOR": "local",
            "QUARRY_VECTOR_INDEX": "sqlite",
        }
    )
    running = LocalStack(port=free_port(), visibility_timeout_s=2).start()
    yield running
    running.stop()
    os.environ.clear()
    os.environ.update(saved)
    from chalicelib import bootstrap
    from chalicelib.config import settings

    settings.cache_clear()
    bootstrap.reset()


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
