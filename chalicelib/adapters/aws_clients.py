"""boto3 clients built on demand from settings: never at import time, one per service and thread."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.config import Settings

_local = threading.local()


def aws_client(service: str, settings: Settings, region: str | None = None) -> Any:
    """A client for `service`, pointed at the moto server when settings name an endpoint.

    boto3 clients are thread-safe but their creation is not, and the thread pools in the providers
    would otherwise race on the shared default session: so a session per thread.
    """
    import boto3
    from botocore.config import Config

    cache: dict[tuple[str, str, str | None], Any] = getattr(_local, "clients", None) or {}
    _local.clients = cache
    cache_key = (service, region or settings.region, settings.aws_endpoint_url)
    if cache_key not in cache:
        session = getattr(_local, "session", None) or boto3.session.Session()
        _local.session = session
        config = Config(
            retries={"mode": "adaptive", "max_attempts": 5},
            connect_timeout=5,
            read_timeout=60,
            # An IP-address endpoint (moto) cannot serve virtual-hosted bucket names.
            s3={"addressing_style": "path"} if settings.aws_endpoint_url else None,
            signature_version="s3v4" if service == "s3" else None,
        )
        cache[cache_key] = session.client(
            service,
            region_name=region or settings.region,
            endpoint_url=settings.aws_endpoint_url,
            config=config,
        )
    return cache[cache_key]


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
