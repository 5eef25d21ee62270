"""A known batch through the real path on moto (upload → S3 → EventBridge → SQS → the Chalice worker):
the EMF lines the worker writes carry the counts CloudWatch would chart, and GET /usage totals are the
sum of the documents' own usage."""

from __future__ import annotations

import json
from collections import Counter

from chalicelib.metrics import NAMESPACE
from tests.documents import FACT_DOCUMENTS, encrypt_pdf, make_pdf
from tests.integration.pipeline import drain, poller, upload
from tests.unit.test_views import conforms

GOOD = ("lighthouse.txt", "orchard.md", "volcano.html")


JSON = {"Content-Type": "application/json"}


def emf_lines(text: str) -> list[dict]:
    """The embedded-metric-format objects among the process's stdout lines (logs are there too)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def metric_values(lines: list[dict]) -> dict[tuple[str, tuple], list[float]]:
    """(metric name, its dimensions beyond service and stage) -> every value written."""
    values: dict[tuple[str, tuple], list[float]] = {}
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            (dimensions,) = directive["Dimensions"]
            assert dimensions[:2] == ["service", "stage"] and len(dimensions) <= 3
            extra = tuple((d, line[d]) for d in dimensions[2:])
            for metric in directive["Metrics"]:
                value = line[metric["Name"]]
                values.setdefault((metric["Name"], extra), []).extend(
                    value if isinstance(value, list) else [value]
                )
    return values


def run_known_batch(container, aws, resources) -> dict[str, dict]:
    ids = [upload(container, name, FACT_DOCUMENTS[name][0]) for name in GOOD]
    ids.append(upload(container, "locked.pdf", encrypt_pdf(make_pdf(["secret plans"]))))
    return drain(poller(aws, resources), container, ids)


def test_the_worker_writes_emf_counts_for_a_known_batch(container, aws, resources, capsys):
    capsys.readouterr()
    views = run_known_batch(container, aws, resources)
    assert Counter(v["status"] for v in views.values()) == {"INDEXED": 3, "FAILED": 1}
    lines = emf_lines(capsys.readouterr().out)
    values = metric_values(lines)

    assert sum(values[("DocumentsIndexed", ())]) == 3
    assert sum(values[("DocumentsFailed", (("ErrorCode", "ENCRYPTED"),))]) == 1
    assert sum(values[("DocumentsFailed", ())]) == 1  # the roll-up the failure-ratio alarm watches
    assert sum(values[("Chunks", ())]) == sum(v["chunk_count"] for v in views.values())
    sizes = [v["source"]["size"] for v in views.values() if v["status"] == "INDEXED"]
    assert sum(values[("SourceBytes", ())]) == sum(sizes)
    stages = {extra[0][1] for name, extra in values if name == "StageLatency"}
    assert stages >= {"fetch", "parse", "chunk", "extract", "embed", "index", "record"}
    assert len(values[("EndToEndLatency", ())]) == 3 and min(values[("EndToEndLatency", ())]) > 0
    # The embedding model (hashing in tests: it counts the words it hashes) reported tokens; the
    # local extractor reports none, so no other model appears.
    models = {extra[0][1]: sum(v) for (name, extra), v in values.items() if name == "ModelInputTokens"}
    assert models.keys() == {container.embedder.model_id} and all(n > 0 for n in models.values())
    # The tenant is a property of the line, never a dimension.
    assert all(line.get("tenant") == "acme" for line in lines)


def test_usage_totals_are_the_sum_of_the_documents_usage(container, aws, resources, http):
    views = run_known_batch(container, aws, resources)
    usages = [v["usage"] for v in views.values()]
    assert all(u is not None for u in usages)
    report = http.get("/usage").json_body
    conforms(report, "UsageReport")
    for view in views.values():
        conforms(view, "Document")

    assert report["tenant"] == "acme"
    assert report["documents"] == {"INDEXED": 3, "FAILED": 1}
    chunks = sum(v["chunk_count"] for v in views.values())
    assert report["chunks"] == sum(u["chunks"] for u in usages) == chunks
    assert report["source_bytes"] == sum(u["source_bytes"] for u in usages)
    model = container.embedder.model_id
    assert report["tokens"][model]["input"] == sum(u["tokens"].get(model, {}).get("input", 0) for u in usages)
    assert report["tokens"][model]["input"] > 0
    assert report["estimated_cost_usd"] == round(sum(u["estimated_cost_usd"] for u in usages), 6)


def test_usage_is_the_callers_tenant_only_and_since_is_checked(container, aws, resources, http, http_as):
    from tests.conftest import BOB

    run_known_batch(container, aws, resources)
    other = http_as(BOB).get("/usage").json_body
    assert other["tenant"] == "globex" and other["documents"] == {} and other["tokens"] == {}
    assert other["cost_per_1000_documents_usd"] is None
    bad = http.get("/usage?since=yesterday")
    assert bad.status_code == 400 and bad.json_body["error"]["code"] == "invalid_since"
    assert http.get("/usage?since=1999-01-01").status_code == 400


def test_the_api_writes_one_batch_per_request_with_search_uploads_and_sign_in_failures(
    container, http, http_as, capsys
):
    capsys.readouterr()
    assert (
        http.post("/uploads", body=json.dumps({"filename": "a.txt"}).encode(), headers=JSON).status_code
        == 201
    )
    search = {"query": "seabirds", "mode": "keyword"}
    assert http.post("/search", body=json.dumps(search).encode(), headers=JSON).status_code == 200
    assert http_as(None).get("/documents").status_code == 401
    values = metric_values(emf_lines(capsys.readouterr().out))

    assert sum(values[("UploadsCreated", ())]) == 1
    assert len(values[("SearchLatency", (("Mode", "keyword"),))]) == 1
    assert values[("SearchResults", ())] == [0]
    assert sum(values[("AuthFailures", ())]) == 1
