"""Builds the services from settings, over the adapters chalicelib/adapter_factory.py builds.

Every service is created on first use, never at import, so importing app.py touches no network and
loads no model, and the API process never loads what only the worker needs (the extractor).
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from chalicelib.adapter_factory import Adapters, choose_adapter
from chalicelib.config import settings

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


class Container(Adapters):
    """Adapters and services for one process, each built once, on first use."""

    def reembedder(self, embedder_name: str) -> Reembedder:
        """The re-embed of the live index with the embedder `embedder_name` (minilm | hashing | titan;
        titan with QUARRY_EMBEDDING_MODEL_ID and _DIMENSIONS)."""
        from chalicelib.reembed import Reembedder

        choose_adapter("embedder", embedder_name, ("minilm", "hashing", "titan"))
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
            usage_entry=self.accounting.entry_for_current_document,
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
    def sweeps(self) -> SweepService:
        from chalicelib.sweeps import SweepService

        return SweepService(self.catalog, self.index)

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
