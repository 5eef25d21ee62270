"""X-Ray traces through Powertools Tracer, where Settings.tracing_enabled says (AWS stages by default).

Nothing here loads at import: `enable()` runs when the first invocation builds the container, and only
then are Powertools' tracer and the X-Ray SDK imported and boto3/botocore patched (every S3, SQS,
DynamoDB and Bedrock call becomes a subsegment). Each pipeline stage is a subsegment of its own
(`subsegment`, from IngestService's stage timer), and so is each API request. With tracing off,
`subsegment` is a no-op costing one global read.

The X-Ray SDK is not in requirements.txt: it needs botocore, which would put ~17 MB more (compressed,
with the SDK and wrapt) in the Lambda package, past its 20 MB goal; the runtime has its own botocore,
but pip does not know that. Where the SDK is missing, `enable()` logs once and the function runs
untraced (Lambda's active tracing still records the invocation); docs/DEPLOY.md says how to provide it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.observability import logger

_tracer: Any = None


def enable(service: str = "quarry") -> bool:
    """Start tracing in this process; False when the X-Ray SDK is not installed."""
    global _tracer
    if _tracer is not None:
        return True
    try:
        import aws_xray_sdk  # noqa: F401
    except ImportError:
        logger.warning("tracing asked for, but aws-xray-sdk is not installed: running untraced")
        return False
    from aws_lambda_powertools import Tracer

    _tracer = Tracer(service=service, patch_modules=("boto3", "botocore"))
    return True


def disable() -> None:
    global _tracer
    _tracer = None


@contextmanager
def subsegment(name: str, **annotations: str) -> Iterator[None]:
    if _tracer is None:
        yield
        return
    with _tracer.provider.in_subsegment(f"## {name}") as segment:
        # None where the X-Ray SDK found no segment to attach to (it logs that itself).
        for key, value in annotations.items() if segment is not None else ():
            segment.put_annotation(key, value)
        yield
