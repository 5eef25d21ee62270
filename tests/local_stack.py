"""A local stack (moto, the Chalice local server with the web page, the pollers) started in the test
process as `make local` starts it, with ALICE and BOB in its user pool; the environment and the cached
settings are put back when it stops, so later tests see their own."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from devstack.runner import LocalStack
from tests.conftest import ALICE, BOB, free_port


@contextmanager
def running_local_stack(embedder: str, **environment: str) -> Iterator[LocalStack]:
    saved = dict(os.environ)
    os.environ.update(
        {
            "QUARRY_AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
            "QUARRY_HOME": tempfile.mkdtemp(prefix="quarry-stack-"),
            "QUARRY_EMBEDDER": embedder,
            "QUARRY_EXTRACTOR": "local",
            "QUARRY_VECTOR_INDEX": "sqlite",
            "QUARRY_LOCAL_USERS": ",".join(f"{u.username}:{u.password}:{u.tenant}" for u in (ALICE, BOB)),
            **environment,
        }
    )
    running = LocalStack(port=free_port(), visibility_timeout_s=2).start()
    try:
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)
        from chalicelib import bootstrap
        from chalicelib.config import settings

        settings.cache_clear()
        bootstrap.reset()
