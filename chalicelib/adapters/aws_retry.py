"""Retry policy for provider calls: which failures are worth retrying, and for how long.

Two layers retry. botocore (adaptive mode, configured in aws_clients.py) retries a throttled call a few
times within milliseconds and slows the client down; `call_with_backoff` spaces out longer waits on
top, with full jitter so that many Lambda workers throttled together do not retry in lockstep. It
stops at a deadline so that the retries of one call fit inside the worker's time budget: past it the
message goes back to the queue (TransientError) instead of the Lambda being killed mid-document.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.model import DocumentError, ErrorCode, TransientError

T = TypeVar("T")


class Verdict(enum.Enum):
    RETRY = "retry"
    PERMANENT = "permanent"


# Error codes that mean "not now" rather than "never".
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "ModelTimeoutException",
        "ModelNotReadyException",
        "InternalServerException",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

# Error codes that retrying cannot fix: a bad request, a missing permission or model, a spent quota.
PERMANENT_CODES = frozenset(
    {
        "ValidationException",
        "AccessDeniedException",
        "ResourceNotFoundException",
        "UnrecognizedClientException",
        "ServiceQuotaExceededException",
        "ModelErrorException",
        "ExpiredTokenException",
    }
)


def is_retryable_status(status: int) -> bool:
    """HTTP statuses worth retrying: too many requests, and server-side failures."""
    return status == 429 or status >= 500


def classify_aws_error(exc: BaseException) -> Verdict | None:
    """RETRY or PERMANENT for a botocore error; None for anything else (a bug: let it surface)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in RETRYABLE_CODES:
            return Verdict.RETRY
        if code in PERMANENT_CODES:
            return Verdict.PERMANENT
        return Verdict.RETRY if is_retryable_status(status) else Verdict.PERMANENT
    # Connection refused/reset, read and connect timeouts: the request may never have arrived.
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return Verdict.RETRY
    return None


def describe_aws_error(exc: BaseException) -> str:
    """'Code: message', the form a person can act on (e.g. which permission is missing)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', str(exc))}"
    return f"{type(exc).__name__}: {exc}"


class Backoff:
    """Full-jitter exponential waits between attempts, bounded by a deadline from construction."""

    def __init__(
        self,
        *,
        deadline_s: float,
        base_s: float = 0.25,
        max_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ):
        self.deadline_s = deadline_s
        self.base_s = base_s
        self.max_s = max_s
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._started = clock()
        self.attempts = 1

    def wait(self, reason: str) -> None:
        """Sleep before the next attempt, or raise TransientError if that would pass the deadline."""
        # The exponent is capped so a long run of near-zero jittered waits cannot overflow the float.
        ceiling = min(self.max_s, self.base_s * 2 ** min(self.attempts - 1, 30))
        delay = self._jitter() * ceiling
        elapsed = self._clock() - self._started
        if elapsed + delay > self.deadline_s:
            raise TransientError(f"gave up after {self.attempts} attempts in {elapsed:.1f} s: {reason}")
        self._sleep(delay)
        self.attempts += 1


def call_with_backoff(
    fn: Callable[[], T],
    *,
    deadline_s: float,
    base_s: float = 0.25,
    max_s: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[], float] = random.random,
    classify: Callable[[BaseException], Verdict | None] = classify_aws_error,
    describe: Callable[[BaseException], str] = describe_aws_error,
) -> T:
    """fn(), retried on retryable errors until `deadline_s` after the first attempt.

    Raises TransientError when retries run out, DocumentError(PROVIDER_ERROR, 'Code: message') on a
    permanent error, and anything `classify` does not recognise unchanged.
    """
    backoff = Backoff(
        deadline_s=deadline_s, base_s=base_s, max_s=max_s, sleep=sleep, clock=clock, jitter=jitter
    )
    while True:
        try:
            return fn()
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None:
                raise
            if verdict is Verdict.PERMANENT:
                raise DocumentError(ErrorCode.PROVIDER_ERROR, describe(exc)) from exc
            try:
                backoff.wait(describe(exc))
            except TransientError as exhausted:
                raise exhausted from exc
