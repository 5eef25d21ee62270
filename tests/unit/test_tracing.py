"""Tracing: off unless asked (the local stage), and when on, Powertools Tracer with each pipeline stage
as an X-Ray subsegment, recorded here by the real X-Ray SDK into an in-memory emitter."""

from __future__ import annotations

import pytest

from chalicelib import tracing
from chalicelib.config import Settings
from chalicelib.ingest import StageTimer


def test_tracing_is_on_in_aws_stages_and_off_locally_unless_asked() -> None:
    assert not Settings(stage="local").tracing_enabled
    assert Settings(stage="local", tracing="on").tracing_enabled
    assert Settings(stage="prod").tracing_enabled
    assert not Settings(stage="prod", tracing="off").tracing_enabled


def test_without_tracing_a_stage_runs_untraced() -> None:
    tracing.disable()
    timer = StageTimer()
    with timer.stage("parse"):
        pass
    assert "parse" in timer.timings


class MemoryEmitter:
    """The X-Ray SDK's emitter interface, keeping what would go to the daemon."""

    def __init__(self) -> None:
        self.entities: list = []

    def send_entity(self, entity) -> None:
        self.entities.append(entity)

    def set_daemon_address(self, address) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000


@pytest.fixture
def lambda_like(monkeypatch: pytest.MonkeyPatch):
    """What the Lambda runtime gives a function with active tracing: the task root and a trace header."""
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "quarry-prod-ingest")
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    )
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    emitter = MemoryEmitter()
    global_sdk_config.set_sdk_enabled(True)
    xray_recorder.configure(emitter=emitter, context=LambdaContext(), sampling=False)
    yield emitter
    tracing.disable()
    # The tracer patched botocore for the whole process: with the SDK off, the patch passes calls through.
    global_sdk_config.set_sdk_enabled(False)


def test_with_tracing_each_stage_is_a_subsegment(lambda_like: MemoryEmitter) -> None:
    assert tracing.enable()
    timer = StageTimer()
    with timer.stage("parse"):
        pass
    with timer.stage("embed"):
        pass
    names = [entity.name for entity in lambda_like.entities]
    assert names == ["## parse", "## embed"]
