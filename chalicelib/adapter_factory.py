"""Builds the adapters from settings: the one place that names concrete adapters.

Each adapter is created on first use, never at import, so importing app.py touches no network and
loads no model, and the API process never loads what only the worker needs (the extractor).
chalicelib/bootstrap.py builds the services over these (its Container is an Adapters).
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from chalicelib.config import Settings
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


class UnknownAdapter(ValueError):
    pass


def choose_adapter(port: str, name: str, choices: tuple[str, ...]) -> None:
    if name not in choices:
        raise UnknownAdapter(f"QUARRY_{port.upper()}={name!r}; choose one of {', '.join(choices)}")


class Adapters:
    """The adapters for one process, each built once, on first use."""

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
        choose_adapter("embedder", name, ("minilm", "hashing", "titan"))
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

            return MiniLMEmbedder(
                threads=self.settings.local_encoder_threads or None,
                precision=self.settings.local_encoder_precision,
                own_process=self.settings.local_encoder_process,
                process_requests=self.settings.local_encoder_requests,
            )
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
        choose_adapter("extractor", name, ("local", "bedrock"))
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
        choose_adapter("vector_index", name, ("sqlite", "opensearch"))
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

    @cached_property
    def answerer(self) -> Answerer:
        name = self.settings.answerer
        choose_adapter("answerer", name, ("local", "bedrock"))
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
        choose_adapter("reranker", name, ("none", "bedrock"))
        if name == "none":
            return None
        from chalicelib.adapters.aws_clients import bedrock_agent_runtime_client
        from chalicelib.adapters.bedrock_reranker import BedrockReranker

        region = self.settings.bedrock_region or self.settings.region
        client = bedrock_agent_runtime_client(region=region, read_timeout=30)
        return BedrockReranker(client, region, self.settings.rerank_model_id)

    @cached_property
    def sweep_scheduler(self) -> SweepScheduler:
        """Delayed sweep messages on the sweep queue: SQS in AWS, the moto server locally."""
        from chalicelib.adapters.sqs_sweeps import SqsSweepScheduler

        conf = self.settings
        return SqsSweepScheduler(self.storage_client("sqs"), conf.sweep_queue, conf.sweep_delay_s)

    @cached_property
    def ingest_requests(self) -> IngestRequests:
        """Reindex and backfill requests, sent to the ingest queue the S3 events reach."""
        from chalicelib.adapters.sqs_ingest_requests import SqsIngestRequests
        from chalicelib.events import ingest_request_body

        return SqsIngestRequests(self.storage_client("sqs"), self.settings.ingest_queue, ingest_request_body)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        from chalicelib.adapters.dynamo_rate_limiter import DynamoRateLimiter

        return DynamoRateLimiter(self.storage_client("dynamodb"), self.settings.documents_table)
