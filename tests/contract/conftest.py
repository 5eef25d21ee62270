"""Fixtures for the provider contract tests: real botocore clients with fake credentials under a
Stubber (nothing leaves the process), a fake clock that sleeps instantly, a recording HTTP server
that stands in for an OpenSearch Serverless endpoint, and clients of osmem-server, a real in-memory
OpenSearch-compatible engine on loopback."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.stub import Stubber
from opensearchpy import OpenSearch

from chalicelib.adapters.opensearch import OpenSearchVectorIndex, build_aoss_client
from tests.contract.recording_server import RecordingServer

FAKE_CREDENTIALS = Credentials("AKIDEXAMPLE", "fake-secret-key", "fake-session-token")


class FakeTime:
    """A monotonic clock that only moves when someone sleeps: backoff runs instantly and its waits
    can be read back."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class StubbedBedrock:
    """A real bedrock-runtime client (request validation and response parsing included) whose
    calls are answered by a Stubber; `calls` keeps every request's parameters, in order."""

    def __init__(self) -> None:
        self.client = boto3.session.Session().client(
            "bedrock-runtime",
            region_name="us-east-1",
            aws_access_key_id=FAKE_CREDENTIALS.access_key,
            aws_secret_access_key=FAKE_CREDENTIALS.secret_key,
        )
        self.stubber = Stubber(self.client)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("before-parameter-build.bedrock-runtime", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def bedrock() -> Iterator[StubbedBedrock]:
    stubbed = StubbedBedrock()
    with stubbed.stubber:
        yield stubbed


@pytest.fixture
def aoss() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def aoss_index(server: RecordingServer, fake_time: FakeTime, **options: Any) -> OpenSearchVectorIndex:
    """The adapter over the production client (RequestsHttpConnection, SigV4 for `aoss`), pointed at
    the recording server."""
    client = build_aoss_client(server.url, "us-east-1", FAKE_CREDENTIALS, timeout=5)
    options.setdefault("sleep", fake_time.sleep)
    options.setdefault("clock", fake_time.clock)
    return OpenSearchVectorIndex(client, "quarry-chunks", 4, **options)


@pytest.fixture
def osmem_engine(osmem_clone: Any) -> OpenSearch:
    """A plain opensearch-py client of this test's own osmem-server clone (the osmem plugin's fixture)."""
    return OpenSearch(hosts=[osmem_clone.url], max_retries=0)


def osmem_index(
    engine: OpenSearch, fake_time: FakeTime, dimensions: int, **options: Any
) -> OpenSearchVectorIndex:
    """The adapter over osmem-server, with the production mapping: osmem accepts the knn_vector field
    but answers no k-NN query."""
    options.setdefault("sleep", fake_time.sleep)
    options.setdefault("clock", fake_time.clock)
    return OpenSearchVectorIndex(engine, "quarry-chunks", dimensions, **options)
