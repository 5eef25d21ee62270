"""Where SciFact quality is won or lost: run after `make bench-quality`, on what it kept.

Reads the kept run (build/bench/scifact-latest: runs.json, the stack's index) and separates the parts:

- fusion: hybrid recomputed offline from the saved vector and keyword chunk rankings (the same
  candidates the API fused) with other RRF constants, per-document instead of per-chunk fusion, and
  weights; the k=60 chunk-level row must reproduce the API's hybrid (a check on the method);
- chunking, vector side: MiniLM on whole documents (title + " " + abstract, as BEIR/MTEB embed them,
  truncated at the model's 256 word pieces) against the pipeline's best chunk;
- chunking and query building, keyword side: SQLite FTS5 BM25 (the adapter's tokenizer and query
  terms) over whole documents against the pipeline's chunks, and query-building variants.

python -m bench.analyze_quality [--kept build/bench/scifact-latest] [--no-model]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import WORK, load_corpus, log, r, write_json
from bench.quality import score

DEFAULT_KEPT = WORK / "scifact-latest"
Ranking = list[tuple[str, float]]


def metrics(qrels, rankings: dict[str, Ranking]) -> dict[str, float]:
    return {m: r(v, 4) for m, v in score(qrels, {q: {"documents": d} for q, d in rankings.items()}).items()}


def to_documents(chunks: list[tuple[str, str, float]]) -> Ranking:
    seen: dict[str, float] = {}
    for _, corpus_id, value in chunks:
        seen.setdefault(corpus_id, value)
    return list(seen.items())


def rrf(lists: list[list[str]], k: float, weights: list[float] | None = None) -> list[tuple[str, float]]:
    weights = weights or [1.0] * len(lists)
    scores: dict[str, float] = {}
    for ranking, weight in zip(lists, weights, strict=True):
        seen = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def fusion_sweep(qrels, runs) -> dict[str, Any]:
    vector, keyword = runs["vector"], runs["keyword"]
    out: dict[str, Any] = {}
    chunk_corpus = {}
    for mode in ("vector", "keyword"):
        for query in runs[mode].values():
            for chunk_id, corpus_id, _ in query["chunks"]:
                chunk_corpus[chunk_id] = corpus_id

    def chunk_level(k: float, weights=None, limit: int = 100) -> dict[str, Ranking]:
        fused = {}
        for q in qrels:
            lists = [
                [c[0] for c in vector.get(q, {}).get("chunks", [])],
                [c[0] for c in keyword.get(q, {}).get("chunks", [])],
            ]
            ranked = rrf(lists, k, weights)[:limit]
            fused[q] = to_documents([(c, chunk_corpus[c], s) for c, s in ranked])
        return fused

    def document_level(k: float, weights=None) -> dict[str, Ranking]:
        fused = {}
        for q in qrels:
            lists = [
                [d for d, _ in vector.get(q, {}).get("documents", [])],
                [d for d, _ in keyword.get(q, {}).get("documents", [])],
            ]
            fused[q] = rrf(lists, k, weights)
        return fused

    for k in (1, 5, 10, 20, 30, 60, 100):
        out[f"chunk-level RRF k={k}"] = metrics(qrels, chunk_level(k))
    for k in (5, 10, 20, 60):
        out[f"document-level RRF k={k}"] = metrics(qrels, document_level(k))
    for w in (0.7, 1.3, 1.6):
        out[f"chunk-level RRF k=60, keyword weight {w}"] = metrics(qrels, chunk_level(60, [1.0, w]))
    return out


def fts_rankings(
    texts: dict[str, str], queries: dict[str, str], build_query: Callable[[str], str], k: int = 100
) -> dict[str, Ranking]:
    """BM25 over `texts` (id -> text) in an in-memory FTS5 table with the adapter's tokenizer."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, text,"
        " tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.executemany("INSERT INTO t (id, text) VALUES (?, ?)", texts.items())
    rankings = {}
    for q, text in queries.items():
        expression = build_query(text)
        rows = (
            db.execute(
                "SELECT id, -rank FROM t WHERE t MATCH ? ORDER BY rank LIMIT ?", (expression, k)
            ).fetchall()
            if expression
            else []
        )
        rankings[q] = [(row[0], row[1]) for row in rows]
    return rankings


def keyword_analysis(qrels, queries, home: Path) -> dict[str, Any]:
    from chalicelib.adapters.sqlite.keyword import english_stop_words, fts_match_expression, query_terms

    corpus = load_corpus()
    whole = {d["_id"]: f"{d['title']} {d['text']}" for d in corpus}
    out: dict[str, Any] = {}

    def adapter_query(text: str) -> str:
        return fts_match_expression(query_terms(text))

    def all_terms(text: str) -> str:
        import re

        terms = list(dict.fromkeys(re.findall(r"[^\W_]+", text.lower())))
        return fts_match_expression(terms)

    def no_single_letters(text: str) -> str:
        stop = english_stop_words()
        import re

        terms = [
            t for t in dict.fromkeys(re.findall(r"[^\W_]+", text.lower())) if t not in stop and len(t) > 1
        ]
        return fts_match_expression(terms)

    out["BM25 whole documents, adapter's query terms"] = metrics(
        qrels, fts_rankings(whole, queries, adapter_query)
    )
    out["BM25 whole documents, every query word"] = metrics(qrels, fts_rankings(whole, queries, all_terms))
    out["BM25 whole documents, no single letters"] = metrics(
        qrels, fts_rankings(whole, queries, no_single_letters)
    )
    index = home / "index.sqlite3"
    if index.exists():
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT chunk_id, metadata, text FROM chunks").fetchall()
        corpus_of = {chunk_id: json.loads(meta)["corpus_id"] for chunk_id, meta, _ in rows}
        chunks = {chunk_id: text for chunk_id, _, text in rows}
        chunk_rankings = fts_rankings(chunks, queries, adapter_query, k=100)
        out["BM25 pipeline chunks (offline), adapter's query terms"] = metrics(
            qrels,
            {
                q: to_documents([(c, corpus_of[c], s) for c, s in ranked])
                for q, ranked in chunk_rankings.items()
            },
        )
    return out


def vector_analysis(qrels, queries, home: Path) -> dict[str, Any]:
    import numpy as np

    from bench.ingest import load_model

    model = load_model()
    corpus = load_corpus()
    cache = WORK / "analysis" / "minilm-whole-documents.npy"
    ids = [d["_id"] for d in corpus]
    if cache.exists():
        doc_vectors = np.load(cache)
    else:
        log(f"encoding {len(corpus)} whole documents (max_seq_length {model.max_seq_length})")
        doc_vectors = model.encode(
            [f"{d['title']} {d['text']}" for d in corpus],
            batch_size=32,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, doc_vectors)
    query_ids = list(queries)
    query_vectors = model.encode([queries[q] for q in query_ids], normalize_embeddings=True)
    scores = query_vectors @ doc_vectors.T
    whole = {}
    for i, q in enumerate(query_ids):
        best = np.argsort(-scores[i])[:100]
        whole[q] = [(ids[j], float(scores[i, j])) for j in best]
    out = {"MiniLM whole documents (BEIR/MTEB style), exact cosine": metrics(qrels, whole)}
    index = home / "index.sqlite3"
    if index.exists():
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT metadata, vector FROM chunks").fetchall()
        corpus_of = [json.loads(meta)["corpus_id"] for meta, _ in rows]
        matrix = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4").reshape(len(rows), -1)
        chunk_scores = query_vectors @ matrix.T
        best_chunk = {}
        for i, q in enumerate(query_ids):
            per_doc: dict[str, float] = {}
            for j in np.argsort(-chunk_scores[i])[:2000]:
                per_doc.setdefault(corpus_of[j], float(chunk_scores[i, j]))
            best_chunk[q] = list(per_doc.items())[:100]
        out["MiniLM pipeline chunks, best chunk, top 100 documents"] = metrics(qrels, best_chunk)
        # Mean of a document's chunk vectors, as one vector per document.
        groups: dict[str, list[int]] = {}
        for j, c in enumerate(corpus_of):
            groups.setdefault(c, []).append(j)
        names = list(groups)
        means = np.stack([matrix[groups[c]].mean(axis=0) for c in names])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        mean_scores = query_vectors @ means.T
        mean_rank = {}
        for i, q in enumerate(query_ids):
            best = np.argsort(-mean_scores[i])[:100]
            mean_rank[q] = [(names[j], float(mean_scores[i, j])) for j in best]
        out["MiniLM pipeline chunks, mean of chunk vectors per document"] = metrics(qrels, mean_rank)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kept", type=Path, default=DEFAULT_KEPT)
    parser.add_argument("--no-model", action="store_true", help="skip the MiniLM whole-document run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    saved = json.loads((args.kept / "runs.json").read_text())
    qrels, queries, runs = saved["qrels"], saved["queries"], saved["runs"]
    results: dict[str, Any] = {
        "api": {
            mode: metrics(qrels, {q: [tuple(d) for d in v["documents"]] for q, v in runs[mode].items()})
            for mode in runs
        },
    }
    results["fusion"] = fusion_sweep(qrels, runs)
    results["keyword"] = keyword_analysis(qrels, queries, args.kept / "home")
    if not args.no_model:
        results["vector"] = vector_analysis(qrels, queries, args.kept / "home")
    for section, rows in results.items():
        print(f"\n{section}:")
        for name, values in rows.items():
            print(f"  {name:<62} " + "  ".join(f"{m} {v:.4f}" for m, v in values.items()))
    write_json(args.out or args.kept / "analysis.json", results)
    return results


if __name__ == "__main__":
    main()
