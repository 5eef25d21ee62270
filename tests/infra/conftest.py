"""The assembled Terraform directory, built once per session when build/terraform is missing or stale.

`make test` on a fresh clone runs before any `make package`, so the tests assemble for
themselves (AWS_DEFAULT_REGION=us-east-1; `chalice package` needs a region, never credentials).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from infra.tools import assemble, scan, tfconfig, validate

STAGE = "prod"
BUILD = assemble.ROOT / "build" / "terraform"


@pytest.fixture(scope="session")
def assembled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if assemble.is_current(BUILD, STAGE):
        return BUILD
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": region}):
        return assemble.assemble(STAGE, tmp_path_factory.mktemp("assembled") / "terraform")


@pytest.fixture(scope="session")
def config(assembled: Path) -> tfconfig.Config:
    return validate.validate(assembled)


@pytest.fixture(scope="session")
def checkov_result(assembled: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[scan.CheckovResult]:
    checkov = scan.DEFAULT_CHECKOV
    assert checkov.exists(), f"{checkov} is missing: `make checkov-venv` installs it (`make test` does)"
    view = scan.scan_view(assembled, tmp_path_factory.mktemp("checkov") / "view")
    yield scan.run_checkov(view, checkov)
