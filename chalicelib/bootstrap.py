"""Builds the services from settings: the one place that names concrete adapters.

Every adapter is created on first use, never at import, so importing app.py touches no network and
loads no model, and the API process never loads what only the worker needs (the extractor).
"""

from __future__ import annotations

import threading
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings, settings
from chalicelib.model import EmbeddingModel, IndexModelMismatch
from chalicelib.ports import (
    Answerer,
    Catalog,
    Embedder,
    Extractor,
    IndexSwitchboard,
    IngestRequests,
    ObjectStore,
    RateLimiter,
    Reranker,
    SweepScheduler,
    VectorIndex,
)

if TYPE_CHECKING:
    from chalicelib.accounting import DocumentAccounting
    from chalicelib.answers import AnswerService
    from chalicelib.api.auth import TokenVerifier
    from chalicelib.documents import DocumentsService
    from chalicelib.ingest import IngestService
    from chalicelib.ledger import UsageService
    from chalicelib.pricing import Price
    from chalicelib.reaper import Reaper
    from chalicelib.reembed import Reembedder
    from chalicelib.search import SearchService
    from chalicelib.sweeps import SweepService
    from chalicelib.worker import RetryBackoff


class UnknownAdapter(ValueError):
    pass


def _choose(port: str, name: str, choices: tuple[str, ...]) -> None:
    if name not in choices:
        raise UnknownAdapter(f"QUARRY_{port.upper()}={name!r}; choose one of {', '.join(choices)}")


class Container:
    """Adapters and services for one process, each built once, on first use."""

    def __init__(self, config: Settings):
        self.settings = config

    def storage_client(self, service: str) -> Any:
        """This thread's S3, DynamoDB or SQS client for the settings: at the moto server on a local run."""
        from chalicelib.adapters.aws_clients import aws_client

        return aws_client(service, region=self.settings.region, endpoint_url=self.settings.aws_endpoint_url)

    @cached_property
    def object_store(self) -> ObjectStore:
        from chalicelib.adapters.s3_store import S3ObjectStore

        return S3ObjectStore(self.storage_client("s3"))

    @cached_property
    def catalog(self) -> Catalog:
        from chalicelib.adapters.dynamo_catalog import DynamoCatalog

        return DynamoCatalog(self.storage_client("dynamodb"), self.settings.documents_table)

    @cached_property
    def embedder(self) -> Embedder:
        """The embedder the settings name: the model a first index is created with."""
        name = self.settings.embedder
        _choose("embedder", name, ("minilm", "hashing", "titan"))
        conf = self.settings
        return self._embedder_named(name, conf.embedding_model_id, conf.embedding_dimensions)

    @cached_property
    def live_embedder(self) -> Embedder:
        """The embedder of the live index's model, what ingest and search use: after a re-embed's
        switch, the new model's at once, before the settings name it."""
        from chalicelib.adapters.index_model_embedder import IndexModelEmbedder

        return IndexModelEmbedder(self.index, lambda: self.embedder, self.embedder_for)

    def embedder_for(self, model: EmbeddingModel) -> Embedder:
        """An embedder making `model`'s vectors, built once per model (IndexModelMismatch if none can)."""
        from chalicelib.adapters.local_embedders import HashingEmbedder, MiniLMEmbedder

        with self._embedders_lock:
            if model not in self._embedders:
                minilm = EmbeddingModel(MiniLMEmbedder.model_id, MiniLMEmbedder.dimensions)
                if model == minilm:
                    made = self._embedder_named("minilm", model.model_id, model.dimensions)
                elif model.model_id == HashingEmbedder.model_id:
                    made = HashingEmbedder(model.dimensions)
                elif model.model_id.startswith("amazon.titan-embed"):
                    made = self._embedder_named("titan", model.model_id, model.dimensions)
                else:
                    configured = self.embedder
                    offered = EmbeddingModel(configured.model_id, configured.dimensions)
                    raise IndexModelMismatch("the live index", model, offered, "this deployment's embedder")
                self._embedders[model] = made
            return self._embedders[model]

    @cached_property
    def _embedders_lock(self) -> threading.Lock:
        return threading.Lock()

    @cached_property
    def _embedders(self) -> dict[EmbeddingModel, Embedder]:
        return {}

    def _embedder_named(self, name: str, model_id: str, dimensions: int) -> Embedder:
        if name == "minilm":
            from chalicelib.adapters.local_embedders import MiniLMEmbedder

            return MiniLMEmbedder()
        if name == "hashing":
            from chalicelib.adapters.local_embedders import HashingEmbedder

            return HashingEmbedder()
        from chalicelib.adapters.aws_clients import bedrock_runtime_client
        from chalicelib.adapters.bedrock_embedder import TitanEmbedder

        client = bedrock_runtime_client(
            region=self.settings.bedrock_region or self.settings.region,
            read_timeout=30,
            # One pooled connection per embedding thread, or urllib3 discards and reopens connections.
            max_pool_connections=self.settings.embedding_concurrency,
        )
        return TitanEmbedder(
            client,
            model_id=model_id,
            dimensions=dimensions,
            concurrency=self.settings.embedding_concurrency,
        )

    @cached_property
    def extractor(self) -> Extractor:
        name = self.settings.extractor
        _choose("extractor", name, ("local", "bedrock"))
        if name == "local":
            from chalicelib.adapters.local_extractor import LocalExtractor

            return LocalExtractor()
        from chalicelib.adapters.aws_clients import bedrock_runtime_client
        from chalicelib.adapters.bedrock_extractor import BedrockExtractor

        client = bedrock_runtime_client(
            region=self.settings.bedrock_region or self.settings.region,
            # A Converse call writes up to max_output_tokens: far slower than an embedding.
            read_timeout=120,
            # One pooled connection per record in flight (QUARRY_RECORD_CONCURRENCY).
            max_pool_connections=max(10, self.settings.record_concurrency),
        )
        return BedrockExtractor(client, self.settings.extraction_model_id)

    @cached_property
    def index(self) -> VectorIndex:
        """The live index: it follows a re-embed's switch (the SQLite pointer file, the OpenSearch alias)."""
        return self.index_switchboard.live()

    @cached_property
    def index_switchboard(self) -> IndexSwitchboard:
        name = self.settings.vector_index
        _choose("vector_index", name, ("sqlite", "opensearch"))
        configured = self.embedder
        model = EmbeddingModel(configured.model_id, configured.dimensions)
        if name == "sqlite":
            from chalicelib.adapters.sqlite.live import SqliteSwitchboard

            self.settings.home_path.mkdir(parents=True, exist_ok=True)
            return SqliteSwitchboard(self.settings.home_path, model)
        from chalicelib.adapters.opensearch import build_aoss_client
        from chalicelib.adapters.opensearch.aliases import OpenSearchSwitchboard

        if not self.settings.opensearch_endpoint:
            raise ValueError("QUARRY_OPENSEARCH_ENDPOINT must name the collection endpoint")
        client = build_aoss_client(self.settings.opensearch_endpoint, self.settings.region)
        return OpenSearchSwitchboard(client, self.settings.opensearch_index, model)

    def reembedder(self, embedder_name: str) -> Reembedder:
        """The re-embed of the live index with the embedder `embedder_name` (minilm | hashing | titan;
        titan with QUARRY_EMBEDDING_MODEL_ID and _DIMENSIONS)."""
        from chalicelib.reembed import Reembedder

        _choose("embedder", embedder_name, ("minilm", "hashing", "titan"))
        embedder = self._embedder_named(
            embedder_name, self.settings.embedding_model_id, self.settings.embedding_dimensions
        )
        return Reembedder(self.index_switchboard, embedder, batch_size=self.settings.embed_batch_size)

    # Services import their parsers and libraries on first use: the API never loads the ingest path,
    # and a cold start pays only for what its first request needs.
    @cached_property
    def ingest(self) -> IngestService:
        from chalicelib.ingest import IngestService

        return IngestService(
            self.settings,
            self.object_store,
            self.catalog,
            self.extractor,
            self.live_embedder,
            self.index,
            sweeps=self.sweep_scheduler,
        )

    @cached_property
    def search(self) -> SearchService:
        from chalicelib.search import SearchService

        return SearchService(self.settings, self.live_embedder, self.index, self.catalog, self.reranker)

    @cached_property
    def answers(self) -> AnswerService:
        from chalicelib.answers import AnswerService

        return AnswerService(self.search, self.answerer)

    @cached_property
    def answerer(self) -> Answerer:
        name = self.settings.answerer
        _choose("answerer", name, ("local", "bedrock"))
        if name == "local":
            from chalicelib.adapters.local_answerer import ExtractiveAnswerer

            return ExtractiveAnswerer()
        from chalicelib.adapters.aws_clients import bedrock_runtime_client
        from chalicelib.adapters.bedrock_answerer import BedrockAnswerer

        client = bedrock_runtime_client(
            region=self.settings.bedrock_region or self.settings.region,
            read_timeout=60,
            max_pool_connections=10,
        )
        return BedrockAnswerer(client, self.settings.answer_model_id)

    @cached_property
    def reranker(self) -> Reranker | None:
        """None on the local stage (no reranking model runs offline): `rerank: true` is then a 400."""
        name = self.settings.reranker
        _choose("reranker", name, ("none", "bedrock"))
        if name == "none":
            return None
        from chalicelib.adapters.aws_clients import bedrock_agent_runtime_client
        from chalicelib.adapters.bedrock_reranker import BedrockReranker

        region = self.settings.bedrock_region or self.settings.region
        client = bedrock_agent_runtime_client(region=region, read_timeout=30)
        return BedrockReranker(client, region, self.settings.rerank_model_id)

    @cached_property
    def documents(self) -> DocumentsService:
        from chalicelib.documents import DocumentsService

        return DocumentsService(
            self.settings,
            self.object_store,
            self.catalog,
            self.index,
            sweeps=self.sweep_scheduler,
            ingest_requests=self.ingest_requests,
        )

    @cached_property
    def sweep_scheduler(self) -> SweepScheduler:
        """Delayed sweep messages on the sweep queue: SQS in AWS, the moto server locally."""
        from chalicelib.adapters.sqs_sweeps import SqsSweepScheduler

        conf = self.settings
        return SqsSweepScheduler(self.storage_client("sqs"), conf.sweep_queue, conf.sweep_delay_s)

    @cached_property
    def sweeps(self) -> SweepService:
        from chalicelib.sweeps import SweepService

        return SweepService(self.catalog, self.index)

    @cached_property
    def ingest_requests(self) -> IngestRequests:
        """Reindex and backfill requests, sent to the ingest queue the S3 events reach."""
        from chalicelib.adapters.sqs_ingest_requests import SqsIngestRequests
        from chalicelib.events import ingest_request_body

        return SqsIngestRequests(self.storage_client("sqs"), self.settings.ingest_queue, ingest_request_body)

    @cached_property
    def reaper(self) -> Reaper:
        from chalicelib.lifecycle import DocumentLifecycle
        from chalicelib.reaper import Reaper

        lifecycle = DocumentLifecycle(
            self.catalog,
            self.object_store,
            self.index,
            processed_bucket=self.settings.processed_bucket,
            claim_lease_s=self.settings.claim_lease_s,
            # What a dead worker wrote in an index's lookup lag is left to the delayed sweep.
            sweeps=self.sweep_scheduler,
        )
        return Reaper(
            self.catalog,
            lifecycle,
            max_receive_count=self.settings.max_receive_count,
            abandoned_after_s=self.settings.abandoned_after_s,
        )

    @cached_property
    def retry_backoff(self) -> RetryBackoff:
        """When the worker's failed messages come back: SQS visibility set from the retry settings."""
        from chalicelib.adapters.sqs_visibility import SqsQueueVisibility
        from chalicelib.worker import RetryBackoff

        return RetryBackoff(
            SqsQueueVisibility(self.storage_client("sqs")),
            base_s=self.settings.retry_base_s,
            max_s=self.settings.retry_max_s,
        )

    @cached_property
    def prices(self) -> dict[str, Price]:
        from chalicelib.pricing import price_table

        return price_table(self.settings.model_prices)

    @cached_property
    def accounting(self) -> DocumentAccounting:
        """The worker's per-document metrics and ledger entries."""
        from chalicelib.accounting import DocumentAccounting

        return DocumentAccounting(
            self.catalog, self.prices, self.settings.max_receive_count, self.settings.default_tenant
        )

    @cached_property
    def usage(self) -> UsageService:
        from chalicelib.ledger import UsageService

        return UsageService(self.catalog, self.prices)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        from chalicelib.adapters.dynamo_rate_limiter import DynamoRateLimiter

        return DynamoRateLimiter(self.storage_client("dynamodb"), self.settings.documents_table)

    @cached_property
    def rate_limits(self) -> dict[tuple[str, str], tuple[str, int]]:
        return {
            ("POST", "/uploads"): ("upload", self.settings.uploads_per_minute),
            ("POST", "/search"): ("search", self.settings.searches_per_minute),
            ("POST", "/answer"): ("search", self.settings.searches_per_minute),
        }

    @cached_property
    def sign_in_config(self) -> dict:
        from chalicelib.api.auth import sign_in_config

        conf = self.settings
        # Only the local stage signs in against the moto server; elsewhere, AWS's own Cognito endpoint.
        endpoint = conf.aws_endpoint_url if conf.stage == "local" else None
        return sign_in_config(conf.auth_issuer, conf.auth_audience, conf.region, endpoint)

    @cached_property
    def token_verifier(self) -> TokenVerifier:
        from chalicelib.api.auth import AuthConfig, AuthFailure, TokenVerifier

        conf = self.settings
        if not (conf.auth_issuer and conf.auth_audience):
            # Fail closed: a deployment without an issuer answers no one rather than everyone.
            raise AuthFailure(
                503,
                "auth_not_configured",
                "sign-in is not configured (QUARRY_AUTH_ISSUER, QUARRY_AUTH_AUDIENCE)",
            )
        issuer = conf.auth_issuer.rstrip("/")
        return TokenVerifier(
            AuthConfig(
                issuer=issuer,
                audience=conf.auth_audience,
                jwks_url=conf.auth_jwks_url or f"{issuer}/.well-known/jwks.json",
                token_use=None if conf.auth_token_use.lower() == "none" else conf.auth_token_use,
                tenant_claim=conf.auth_tenant_claim,
                leeway_s=conf.auth_leeway_s,
                jwks_cache_s=conf.auth_jwks_cache_s,
            )
        )


_override: Container | None = None


@lru_cache(maxsize=1)
def _from_settings() -> Container:
    config = settings()
    if config.tracing_enabled:
        # Here, on the first invocation, not at import: the tracer patches boto3 and loads the X-Ray SDK.
        from chalicelib.tracing import enable

        enable()
    return Container(config)


def container() -> Container:
    return _override or _from_settings()


def reset() -> None:
    """Forget the built container, so the next call rebuilds it from the current settings."""
    use_container(None)
    _from_settings.cache_clear()


def use_container(replacement: Container | None) -> None:
    """Serve the app from `replacement` (tests build one over their own moto server and index);
    None goes back to the one built from settings."""
    global _override
    _override = replacement
