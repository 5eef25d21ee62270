"""Re-embedding: build a new index with another embedding model, then make it the live one.

The chunk texts come from the live index itself, not from the processed JSON in the processed bucket:
the index holds exactly what search serves now (every field a hit needs: tenant, key, content type,
metadata, version, text), and only the index can say which documents changed while the rebuild ran.
The processed bucket would also hold outputs of documents whose chunks are gone (FAILED or deleted
between the two writes), and reading it means listing every tenant's prefix.

No gap, and no lost write:
1. the new index is built beside the live one, which keeps answering every search;
2. documents written or deleted meanwhile are taken again, in rounds, from the live index's change
   history (ReembedSource.changed_since);
3. the switch runs a last round as late as the backend allows (on SQLite under the old file's write
   lock, so no write slips between it and the switch) and then points search at the new index in one
   atomic step (the pointer file; the alias on OpenSearch);
4. a write that reaches the old index after that is refused (IndexSwitched or IndexModelMismatch,
   both retried by the worker) and, retried, goes to the new index with the new model's vectors, as
   the embedder follows the live index's model (bootstrap.Container.embedder).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from chalicelib.model import EmbeddingModel, IndexedChunk
from chalicelib.ports import Embedder, IndexSwitchboard, ReembedSource, VectorIndex

logger = logging.getLogger(__name__)

# Catch-up rounds before the switch: each takes what changed during the one before, so the last
# round, run while writers wait, is small.
CATCH_UP_ROUNDS = 3


class NothingToReembed(Exception):
    """The live index already holds the requested model's vectors."""


@dataclass
class ReembedReport:
    model: EmbeddingModel
    previous: EmbeddingModel | None
    new_index: str = ""
    old_index: str = ""
    documents: int = 0
    chunks: int = 0
    caught_up: list[int] = field(default_factory=list)  # documents taken again, per round


class Reembedder:
    def __init__(
        self,
        switchboard: IndexSwitchboard,
        embedder: Embedder,
        batch_size: int = 32,
        progress: Callable[[ReembedReport], None] | None = None,
    ):
        self._switchboard = switchboard
        self._embedder = embedder
        self._batch_size = batch_size
        self._progress = progress or (lambda report: None)
        self.model = EmbeddingModel(embedder.model_id, embedder.dimensions)

    def run(self) -> ReembedReport:
        source: ReembedSource = self._switchboard.live_source()
        previous = source.embedding_model()
        if previous == self.model:
            raise NothingToReembed(f"the live index already holds {self.model} vectors")
        report = ReembedReport(self.model, previous)
        target = self._switchboard.create(self.model)
        report.new_index = self._switchboard.name_of(target)
        marker = source.change_marker()
        copied = self._copy(source, target, None, report)
        report.documents = len(copied)
        for _ in range(CATCH_UP_ROUNDS):
            changed, marker = source.changed_since(marker)
            copied |= self._copy(source, target, changed, report)
            if changed is not None and not changed:
                break
        last = marker

        def final_catch_up(skip: Callable[[str], bool]) -> None:
            changed, _ = source.changed_since(last)
            if changed is not None:
                # A delete the history cannot show (OpenSearch keeps none): a document copied
                # earlier that the old index no longer has.
                changed = sorted(set(changed) | (copied - source.document_ids()))
            copied.update(self._copy(source, target, changed, report, skip))

        report.old_index = self._switchboard.switch_to(target, final_catch_up)
        logger.info(
            "re-embedded",
            extra={"model": str(self.model), "documents": report.documents, "caught_up": report.caught_up},
        )
        return report

    def _copy(
        self,
        source: ReembedSource,
        target: VectorIndex,
        document_ids: list[str] | None,
        report: ReembedReport,
        skip: Callable[[str], bool] = lambda _: False,
    ) -> set[str]:
        """Write the new model's chunks of `document_ids` (None: every document) into `target`; a named
        document the source no longer has is deleted from it. Returns the documents written."""
        written: set[str] = set()
        remaining = {d for d in document_ids or () if not skip(d)}
        wanted = None if document_ids is None else sorted(remaining)
        for document_id, old_chunks in source.export(wanted):
            remaining.discard(document_id)
            target.replace_document(document_id, old_chunks[0].version, self._reembedded(old_chunks))
            written.add(document_id)
            report.chunks += len(old_chunks)
            if document_ids is None and len(written) % 100 == 0:
                report.documents = len(written)
                self._progress(report)
        for document_id in remaining:
            target.delete_document(document_id)
        if document_ids is not None:
            report.caught_up.append(len(written) + len(remaining))
        return written

    def _reembedded(self, chunks: Iterable[IndexedChunk]) -> list[IndexedChunk]:
        chunks = list(chunks)
        vectors: list[list[float]] = []
        for start in range(0, len(chunks), self._batch_size):
            batch = chunks[start : start + self._batch_size]
            vectors.extend(self._embedder.embed_documents([c.chunk.text for c in batch]))
        return [
            replace(c, vector=v, model_id=self.model.model_id, dimensions=self.model.dimensions)
            for c, v in zip(chunks, vectors, strict=True)
        ]
