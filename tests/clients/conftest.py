"""One local stack (moto, the Chalice local server with the web page, the SQS poller) for every client
test in this folder, started as `make local` starts it; the CLI runs as a real process against it and the
page in a real Chromium.

The hashing embedder stands in for MiniLM here: these tests prove the clients, not retrieval quality
(tests/e2e does that with the real model), and it keeps two cores free for the browser."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.runner import LocalStack
from tests.local_stack import running_local_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    with running_local_stack("hashing") as running:
        yield running


def quarry_command() -> list[str]:
    """The installed console script (`make install` puts it in the venv); `python -m quarry_cli` where
    the project is not installed, which runs the same code."""
    script = Path(sys.executable).with_name("quarry")
    return [str(script)] if script.exists() else [sys.executable, "-m", "quarry_cli"]


class Quarry:
    """Runs `quarry ...` as a process with its own token cache, as a user's shell would."""

    def __init__(self, api_url: str, config_dir: Path):
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("QUARRY_") and not key.startswith("AWS_")
        }
        self.env.update({"QUARRY_API": api_url, "QUARRY_CONFIG_DIR": str(config_dir), "COLUMNS": "160"})

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
        return subprocess.run(
            [*quarry_command(), *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def quarry(stack, tmp_path_factory) -> Quarry:
    # Its own folder: a test uploading its tmp_path must not upload the tokens too.
    return Quarry(stack.api_url, tmp_path_factory.mktemp("quarry-config"))
