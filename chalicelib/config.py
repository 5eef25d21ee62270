"""Settings, read from the environment once. The only module that reads os.environ.

Chalice sets the environment from .chalice/config.json for the stage (local, dev, prod); any variable
set in the process environment wins, which is how a local run can mix in a real provider.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    region: str = "us-east-1"
    # S3/SQS/DynamoDB/EventBridge endpoint: unset in AWS; the moto server's address on a local run.
    # Passed explicitly to those clients only (not boto3's global AWS_ENDPOINT_URL), so a local run
    # can still call the real Bedrock and OpenSearch ("hybrid" mode).
    aws_endpoint_url: str | None = None
    raw_bucket: str = "quarry-raw"
    processed_bucket: str = "quarry-processed"
    documents_table: str = "quarry-documents"
    ingest_queue: str = "quarry-ingest"
    dead_letter_queue: str = "quarry-ingest-dlq"
    max_receive_count: int = 5
    # Minutes after every write or delete of a document's chunks, a delayed message on the sweep queue
    # has the index brought in line with the catalog (chalicelib/sweeps.py): past OpenSearch
    # Serverless's ~60 s lag, so the sweep sees every chunk. SQS allows 0 to 900 s.
    sweep_queue: str = "quarry-sweep"
    sweep_dead_letter_queue: str = "quarry-sweep-dlq"
    sweep_delay_s: int = 180
    # A failed delivery comes back after a full-jitter exponential backoff: up to retry_base_s after
    # the first failure, doubling per delivery, never more than retry_max_s (rather than after the
    # queue's whole visibility timeout).
    retry_base_s: int = 30
    retry_max_s: int = 900
    # Which adapter serves each port.
    embedder: str = "minilm"  # minilm | hashing | titan
    extractor: str = "local"  # local | bedrock
    vector_index: str = "sqlite"  # sqlite | opensearch
    # Embedded stack state: vector store files, logs.
    home: str = ".quarry"
    # Chunking, in tokens of the embedding model's tokenizer (approximated where none is local).
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    embed_batch_size: int = 32
    # Intra-op threads of the local model (0: torch's default, one per core). The local stack runs
    # the model beside moto, the API and the extractor on the same cores (docs/BENCHMARKS.md, ingest).
    local_encoder_threads: int = 0
    # The local model's matrix arithmetic: "bfloat16" (torch autocast, its linear layers' weights cast
    # to bfloat16 once at load: local_embedders.prepare_for_precision),
    # "float32", or "auto": bfloat16 where the CPU has bfloat16 instructions (AVX512-BF16 or AMX),
    # float32 elsewhere, where bfloat16 would be emulated and slower. On SciFact chunks bfloat16 ran
    # 1.8x faster here and kept every vector within cosine 0.9999 of float32 (docs/BENCHMARKS.md).
    local_encoder_precision: str = "auto"  # auto | bfloat16 | float32
    # The local model in a child process of its own (chalicelib/adapters/model_process.py), away from
    # the interpreter lock the API, the pollers and the extractor hold; on in the local stage.
    local_encoder_process: bool = False
    # Requests that process serves at once, each on its own copy of the model (model_child.py).
    local_encoder_requests: int = 1
    # Records of one SQS batch processed at once. Bedrock calls are waits, not work, so a few run
    # side by side; each holds its object and parse in memory, which bounds this by the worker's memory.
    record_concurrency: int = 4
    # The local stack's ingest invocations in flight at once (devstack/poller.py), sharing the worker's
    # record pool: with one, the pool idles while a batch's slowest record finishes and the next batch
    # is received. Lambda runs many side by side; this changes nothing in AWS.
    local_worker_invocations: int = 2
    # Limits that keep one hostile file from taking the worker down.
    max_object_bytes: int = 50 * 1024 * 1024
    max_pages: int = 2000
    max_characters: int = 5_000_000
    max_chunks: int = 5000
    max_zip_uncompressed_bytes: int = 200 * 1024 * 1024
    max_zip_entries: int = 10_000
    # A zip-based document may also unpack to at most this many times its own size, once past the
    # floor (so small files always pass). The real office files of tests/fixtures/corpus unpack to at
    # most 22.6x their size and 830 kB; a 52 kB .docx whose 10.8 MB document.xml costs lxml 355 MB
    # unpacks to 206x.
    max_zip_expansion_ratio: int = 100
    zip_expansion_floor_bytes: int = 4 * 1024 * 1024
    # Parsing runs in child processes (chalicelib/parsing/isolation.py), one per record in flight;
    # "inline" parses in the worker itself, for the benchmark's comparison only.
    parse_isolation: str = "process"
    # Per child and document: the address space parsing may add (beyond the child's start-up and the
    # file's own bytes), CPU seconds, wall seconds. Sized for the 1,024 MB Lambda with
    # record_concurrency (4) records in flight: the worker keeps ~400 MB (estimated: runtime, clients,
    # each record's object, text and chunks) and each child ~60 MB (54 MB resident measured after
    # importing the parsers), which leaves (1024 - 400 - 4 * 60) / 4 = 96 MB a child. The file's copy
    # in its child comes on top: with files near max_object_bytes, lower record_concurrency. The limit
    # is on virtual memory, never less than resident memory. The costliest file of
    # tests/fixtures/corpus adds 26 MB and takes 2 s of CPU. CPU: four children share the 1,024 MB
    # Lambda's ~0.6 vCPU, so 60 s of CPU can take 4 minutes of wall time; the timeout leaves the rest
    # of the 300 s invocation (time_reserve_s included) to the other stages.
    parse_memory_mb: int = 96
    parse_cpu_s: int = 60
    parse_timeout_s: int = 240
    # A pre-signed upload form is good for this long; a PENDING record whose object never arrives is
    # shown EXPIRED (and removed by the table's TTL) after pending_expiry_s, well past the form's life.
    upload_url_expires_s: int = 300
    pending_expiry_s: int = 3600
    # A worker's claim on a document version expires after this long, so a worker that died
    # mid-document does not block the retry; keep it at the worker's Lambda timeout.
    claim_lease_s: int = 300
    # The reaper (chalicelib/reaper.py) runs this often and fails a PROCESSING document untouched for
    # abandoned_after_s: far past any retry's wait (the queue's visibility timeout, retry_max_s).
    reaper_interval_minutes: int = 5
    abandoned_after_s: int = 6 * 60 * 60
    # The tenant of objects dropped straight into the raw bucket outside any `tenants/{tenant}/`
    # prefix; unset (the default), such an object ends FAILED/NO_TENANT.
    default_tenant: str | None = None
    # Stop starting new stages when less than this is left of the invocation, so the message is
    # retried cleanly instead of being cut off by the Lambda timeout.
    time_reserve_s: int = 20
    # Hybrid search: reciprocal rank fusion over this many candidates from each side.
    rrf_k: int = 60
    hybrid_candidates: int = 100
    # The HMAC key of search cursors (chalicelib/paging.py). Unset: derived from the stack's table
    # and bucket names, which binds cursors to the deployment but is no secret.
    search_cursor_secret: str | None = None
    # Reranking (`rerank: true` on a search): "none" (the local stage: no reranking model is available
    # offline) or "bedrock", Bedrock's Rerank API with rerank_model_id over the first
    # rerank_candidates fused candidates; rerank_by_default makes it the default for every search.
    reranker: str = "none"  # none | bedrock
    rerank_model_id: str = "amazon.rerank-v1:0"  # or cohere.rerank-v3-5:0
    rerank_candidates: int = 50
    rerank_by_default: bool = False
    # POST /answer: "local" (extractive: the best-matching sentences, no model) or "bedrock" (Claude
    # through Converse, answer_model_id).
    answerer: str = "local"  # local | bedrock
    answer_model_id: str = "anthropic.claude-3-5-haiku-20241022-v1:0"
    # Production providers.
    bedrock_region: str | None = None
    # A JSON Schema (as JSON text) every document's extraction fills, unless its upload names its own.
    extraction_schema: str | None = None
    extraction_model_id: str = "anthropic.claude-3-5-haiku-20241022-v1:0"
    embedding_model_id: str = "amazon.titan-embed-text-v2:0"
    embedding_dimensions: int = 1024
    embedding_concurrency: int = 8
    opensearch_endpoint: str | None = None
    opensearch_index: str = "quarry-chunks"
    # Sign-in (chalicelib/api/auth.py): Cognito user-pool ID tokens, or any OIDC issuer's JWTs. The
    # issuer and the JWKS address are separate because moto's tokens name the real Cognito issuer
    # while their keys are served by the local moto server.
    auth_issuer: str | None = None
    auth_audience: str | None = None  # the app client id
    auth_jwks_url: str | None = None  # default: {auth_issuer}/.well-known/jwks.json
    auth_token_use: str = "id"  # "none" for an issuer whose tokens carry no token_use claim
    auth_tenant_claim: str = "custom:tenant"
    auth_leeway_s: int = 60
    auth_jwks_cache_s: int = 3600
    # The web page's origin when it is served from elsewhere than the API (CORS); unset: same origin only.
    web_origin: str | None = None
    # Per-tenant requests a minute (0: no limit), so one tenant cannot spend everyone's Bedrock quota;
    # API Gateway's stage throttling stays the outer limit.
    uploads_per_minute: int = 300
    searches_per_minute: int = 1200
    # Check every search's hits against the catalog and drop those of documents not searchable at the
    # hit's version (chalicelib/search_check.py); off only to measure what the check costs.
    search_catalog_check: bool = True
    # The cost ledger's prices: JSON over chalicelib/pricing.py's defaults,
    # {"<model id>": {"input_per_1k": USD, "output_per_1k": USD}}.
    model_prices: str | None = None
    # X-Ray traces through Powertools Tracer: "auto" is on in AWS stages, off on the local stage.
    tracing: str = "auto"

    @property
    def tracing_enabled(self) -> bool:
        return self.tracing == "on" or (self.tracing == "auto" and self.stage != "local")

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Each field comes from QUARRY_<FIELD>; the region also from AWS_REGION/AWS_DEFAULT_REGION."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"QUARRY_{f.name.upper()}")
            if raw is None and f.name == "region":
                raw = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if raw is None or raw == "":
                continue
            if f.type == "bool":
                values[f.name] = _flag(f.name, raw)
            else:
                values[f.name] = int(raw) if f.type == "int" else raw
        return cls(**values)


def _flag(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"QUARRY_{name.upper()}={raw!r}: use true or false")


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
