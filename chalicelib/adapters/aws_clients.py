"""Every boto3 client and botocore Config the adapters use, built on demand (never at import time).

One retry policy for all of them: botocore's adaptive mode, which retries a throttled or failed call a
few times within milliseconds and then rate-limits the client. aws_retry.py holds what provider
adapters add on top (which errors to retry, and jittered backoff up to a deadline).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config

# botocore's max_attempts counts the retries after the first call. Storage calls (S3, DynamoDB) have
# no retry layer above botocore's, so botocore alone must ride out a throttle. Bedrock calls run inside
# aws_retry.call_with_backoff, whose waits do the long retrying: there botocore only absorbs the quick
# blips, and fewer attempts keep the two layers from multiplying one call's retries past the worker's
# time budget.
STORAGE_MAX_ATTEMPTS = 5
BEDROCK_MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 5
STORAGE_READ_TIMEOUT_S = 60
# botocore's own default pool size, stated so every client's pool is visible here.
DEFAULT_MAX_POOL_CONNECTIONS = 10
# A storage client is shared by every thread of the process that uses its adapter: in the local
# stack, the API's request threads, the pollers and every record in flight of every invocation
# (QUARRY_RECORD_CONCURRENCY x QUARRY_LOCAL_WORKER_INVOCATIONS). Past the pool's size urllib3 opens a
# connection for each request over it and drops it after: with 8 records and 3 invocations, 7.6% of
# the stack process's samples (py-spy) were in create_connection. The pool opens connections only as
# they are needed, so a larger bound costs nothing where fewer threads share the client (Lambda).
STORAGE_MAX_POOL_CONNECTIONS = 64

_local = threading.local()


def client_config(
    service: str,
    *,
    max_attempts: int,
    read_timeout: float,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    max_pool_connections: int = DEFAULT_MAX_POOL_CONNECTIONS,
    endpoint_url: str | None = None,
) -> Config:
    """The Config of every client: adaptive retries, and timeouts short enough that one hung
    connection cannot eat the worker's budget; for S3, SigV4 and (at a moto endpoint) path addressing."""
    from botocore.config import Config

    s3_options: dict[str, Any] = {}
    if service == "s3":
        s3_options["signature_version"] = "s3v4"
        if endpoint_url:
            # An IP-address endpoint (moto) cannot serve virtual-hosted bucket names.
            s3_options["s3"] = {"addressing_style": "path"}
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        **s3_options,
    )


def _thread_session() -> Any:
    """This thread's boto3 session: clients are thread-safe but their creation is not, and the thread
    pools in the providers would otherwise race on the shared default session."""
    import boto3

    session = getattr(_local, "session", None) or boto3.session.Session()
    _local.session = session
    return session


def aws_client(service: str, *, region: str, endpoint_url: str | None = None) -> Any:
    """A storage client (S3, DynamoDB) for `region`, pointed at `endpoint_url` (the moto server on a
    local run) when one is given; one per thread, service, region and endpoint."""
    cache: dict[tuple[str, str, str | None], Any] = getattr(_local, "clients", None) or {}
    _local.clients = cache
    cache_key = (service, region, endpoint_url)
    if cache_key not in cache:
        config = client_config(
            service,
            max_attempts=STORAGE_MAX_ATTEMPTS,
            read_timeout=STORAGE_READ_TIMEOUT_S,
            max_pool_connections=STORAGE_MAX_POOL_CONNECTIONS,
            endpoint_url=endpoint_url,
        )
        cache[cache_key] = _thread_session().client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )
    return cache[cache_key]


def bedrock_runtime_client(*, region: str, read_timeout: float, max_pool_connections: int) -> Any:
    """A bedrock-runtime client of its own for one adapter (each sizes its pool and timeout).

    Never pointed at the moto endpoint: moto's bedrock-runtime returns empty bodies, and a local run
    that asks for Bedrock means the real service.
    """
    config = client_config(
        "bedrock-runtime",
        max_attempts=BEDROCK_MAX_ATTEMPTS,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
    )
    return _thread_session().client("bedrock-runtime", region_name=region, config=config)


def bedrock_agent_runtime_client(*, region: str, read_timeout: float) -> Any:
    """A bedrock-agent-runtime client (the Rerank API), never pointed at the moto endpoint."""
    config = client_config(
        "bedrock-agent-runtime", max_attempts=BEDROCK_MAX_ATTEMPTS, read_timeout=read_timeout
    )
    return _thread_session().client("bedrock-agent-runtime", region_name=region, config=config)


def aoss_http_auth(region: str, credentials: Any = None) -> Any:
    """SigV4 signing for OpenSearch Serverless (service `aoss`), as opensearch-py's `http_auth`.

    `credentials` is a botocore Credentials object (the default session's when None); AWS4Auth asks it
    for fresh keys before each request, so rotated role credentials are picked up.
    """
    from requests_aws4auth import AWS4Auth

    if credentials is None:
        import boto3

        credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise ValueError("no AWS credentials found to sign OpenSearch Serverless requests")
    return AWS4Auth(refreshable_credentials=credentials, region=region, service="aoss")
