"""Bombs through the real path (pre-signed upload → S3 → EventBridge → SQS → poller → Chalice handler),
in the same batch as good files: each bomb ends FAILED/TOO_COMPLEX, the good files INDEXED, and the
worker goes on. (Before the parser child, the 39 kB tree bomb was INDEXED, at ~110 MB of the worker's
own memory.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.config import Settings
from tests import bombs
from tests.documents import FACT_DOCUMENTS, make_docx
from tests.integration.pipeline import drain, poller, queue_depth, upload


@pytest.fixture
def aws_settings(aws_settings: Settings) -> Settings:
    return replace(aws_settings, parse_memory_mb=64, parse_cpu_s=2, record_concurrency=2)


def test_bombs_fail_too_complex_and_the_rest_of_the_batch_is_indexed(container, aws, resources):
    good, _ = FACT_DOCUMENTS["orchard.md"]
    worker = poller(aws, resources)
    # A first document loads the worker's libraries, so the memory measured below is the batch's own.
    warm = upload(container, "warm.docx", make_docx(["Warming up the worker."]))
    assert drain(worker, container, [warm])[warm]["status"] == "INDEXED"
    ids = {
        "good": upload(container, "orchard.md", good),
        "tree-bomb": upload(container, "tree.docx", bombs.tree_bomb_docx()),
        "slow-pdf": upload(container, "slow.pdf", bombs.slow_pdf()),
        **{f"{kind}-bomb": upload(container, f"bomb.{kind}", bombs.ratio_bomb(kind)) for kind in bombs.KINDS},
        "good-docx": upload(
            container, "report.docx", make_docx(["The orchard report names nine apple trees."])
        ),
    }
    views = drain(worker, container, list(ids.values()), timeout_s=120)
    by_name = {name: views[document_id] for name, document_id in ids.items()}
    assert by_name["good"]["status"] == by_name["good-docx"]["status"] == "INDEXED"
    for name, view in by_name.items():
        if name.startswith("good"):
            continue
        assert view["status"] == "FAILED", (name, view)
        assert view["error"]["code"] == "TOO_COMPLEX", (name, view["error"])
        assert view["chunk_count"] == 0
    assert "64 MB of memory" in by_name["tree-bomb"]["error"]["message"]
    assert "2 s of CPU time" in by_name["slow-pdf"]["error"]["message"]
    assert "times its own size" in by_name["xlsx-bomb"]["error"]["message"]
    assert queue_depth(aws, resources.queue_url) == 0 and queue_depth(aws, resources.dlq_url) == 0
    # The children that died were replaced: the next batch is served.
    after = upload(container, "after.docx", make_docx(["A kestrel over the bombed orchard."]))
    assert drain(worker, container, [after])[after]["status"] == "INDEXED"
