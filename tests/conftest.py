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


@pytest.fixture
def aws_settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    """Empty moto state, fresh index directory; the fast hashing embedder (tests that need the real
    model ask for it)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return Settings(
        aws_endpoint_url=moto_endpoint,
        home=str(tmp_path / "quarry"),
        embedder="hashing",
        extractor="local",
        vector_index="sqlite",
        max_receive_count=3,
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
