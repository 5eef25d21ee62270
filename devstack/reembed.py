"""`make reembed MODEL=...`: re-embed the live index with another model and switch search to it.

Runs beside `make local` (another process, the same QUARRY_HOME): the running API and worker follow
the switch at their next call. The same code serves AWS: with the prod stage's settings
(QUARRY_VECTOR_INDEX=opensearch, QUARRY_OPENSEARCH_ENDPOINT, ...) and credentials the collection's
data-access policy admits (docs/DEPLOY.md, Re-embedding).
"""

from __future__ import annotations

import logging

from chalicelib import bootstrap
from chalicelib.reembed import NothingToReembed, ReembedReport


def reembed(model: str) -> ReembedReport | None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    container = bootstrap.container()
    reembedder = container.reembedder(model)
    before = container.index_switchboard.live_source().embedding_model()
    print(f"re-embedding the live index ({before or 'no model yet'}) with {reembedder.model}", flush=True)
    try:
        report = reembedder.run()
    except NothingToReembed as nothing:
        print(nothing)
        return None
    print(
        f"switched search from {report.old_index} to {report.new_index}: {report.documents} documents,"
        f" {report.chunks} chunks; taken again while it ran: {report.caught_up}",
        flush=True,
    )
    return report
