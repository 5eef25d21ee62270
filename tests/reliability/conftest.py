"""Reliability runs provision the queue with ten deliveries before the DLQ (so a 30% fault rate ends
in success, not in dead letters) and a 2 s claim lease (so a killed worker's claim expires within the
test); the visibility timeout stays 1 s (tests/conftest.py's `resources`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.bootstrap import Container
from chalicelib.config import Settings
from tests.reliability.faults import pin_aws_adapters


@pytest.fixture
def aws_settings(aws_settings: Settings) -> Settings:
    return replace(aws_settings, max_receive_count=10, claim_lease_s=2)


@pytest.fixture
def container(container: Container) -> Container:
    """The container, its S3 and DynamoDB adapters on clients of their own: aws_client's per-thread cache
    ignores the endpoint, and test_load.py runs against a moto server other than the session's."""
    return pin_aws_adapters(container)
