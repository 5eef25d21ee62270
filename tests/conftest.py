"""Shared fixtures: a real moto server on loopback (the boto3 HTTP path, real event shapes), the
resources provisioned as the local stack does, and a services container wired to them."""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib import bootstrap
from chalicelib.config import Settings
from devstack.cloud import Resources, clients, provision, start_moto
from devstack.identity import LocalUser, UserPool, provision_user_pool, sign_in
from devstack.stage import LOCAL_CREDENTIALS

FIXTURES = Path(__file__).parent / "fixtures"

for name, value in LOCAL_CREDENTIALS.items():
    os.environ[name] = value
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "QuarryTests")
logging.getLogger("werkzeug").setLevel(logging.ERROR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    endpoint = f"http://127.0.0.1:{free_port()}"
    server = start_moto(endpoint)
    yield endpoint
    server.stop()


# Two users of two tenants in every test's user pool: tests sign in as they would against AWS.
ALICE = LocalUser("alice", "Alice-pass-1", "acme")
BOB = LocalUser("bob", "Bob-pass-1", "globex")
TEST_USERS = (ALICE, BOB)


def signed_in_settings(pool: UserPool, **values) -> Settings:
    """Settings whose token check trusts `pool` (issuer from moto's tokens, keys from the moto server)."""
    return Settings(
        auth_issuer=pool.issuer, auth_audience=pool.client_id, auth_jwks_url=pool.jwks_url, **values
    )


def pool_of(settings: Settings) -> UserPool:
    assert settings.auth_issuer and settings.auth_audience and settings.aws_endpoint_url
    return UserPool(
        settings.auth_issuer.rsplit("/", 1)[1],
        settings.auth_audience,
        settings.region,
        settings.aws_endpoint_url,
    )


def token_for(settings: Settings, user: LocalUser = ALICE) -> str:
    pool = pool_of(settings)
    return sign_in(pool.client_id, user.username, user.password, pool.region, pool.endpoint_url)


@pytest.fixture
def aws_settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    """Empty moto state with a user pool of TEST_USERS, fresh index directory; the fast hashing
    embedder (tests that need the real model ask for it)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    pool = provision_user_pool(moto_endpoint, "us-east-1", list(TEST_USERS))
    return signed_in_settings(
        pool,
        aws_endpoint_url=moto_endpoint,
        home=str(tmp_path / "quarry"),
        embedder="hashing",
        extractor="local",
        vector_index="sqlite",
        max_receive_count=3,
        # A retry comes back after 1 s, the same as the test queues' visibility timeout.
        retry_base_s=1,
        retry_max_s=1,
    )


@pytest.fixture
def resources(aws_settings: Settings) -> Resources:
    return provision(aws_settings, visibility_timeout_s=1)


@pytest.fixture
def aws(aws_settings: Settings):
    return clients(aws_settings)


@pytest.fixture
def container(aws_settings: Settings, resources: Resources) -> Iterator[bootstrap.Container]:
    built = bootstrap.Container(aws_settings)
    bootstrap.use_container(built)
    yield built
    bootstrap.use_container(None)


@pytest.fixture
def http_as(container: bootstrap.Container, aws_settings: Settings) -> Iterator:
    """`http_as(user)`: the app's HTTP interface (chalice.test.Client), signed in as `user`
    (None: no token at all)."""
    from chalice.test import Client

    from app import app
    from tests.signed_in import SignedInHttp

    with Client(app, stage_name="local") as client:
        yield lambda user=ALICE: SignedInHttp(client.http, token_for(aws_settings, user) if user else None)


@pytest.fixture
def http(http_as):
    """The app's HTTP interface signed in as ALICE (tenant acme)."""
    return http_as(ALICE)
