"""Retry policy for provider calls: which failures are worth retrying, and for how long.

Two layers retry. botocore (adaptive mode, configured in aws_clients.py) retries a throttled call a few
times within milliseconds and slows the client down; `call_with_backoff` spaces out longer waits on
top, with full jitter so that many Lambda workers throttled together do not retry in lockstep. It
stops at a deadline so that the retries of one call fit inside the worker's time budget: past it the
message goes back to the queue (TransientError) instead of the Lambda being killed mid-document.

Three verdicts: RETRY (not now), PERMANENT (this request can never succeed: the file's fault, the
document fails) and CONFIGURATION (the account's fault: a permission, credentials, a model not
enabled). A configuration error is not retried within the call, since seconds do not fix it, but it
does not fail the document either: it raises ConfigurationError, a TransientError, so the message
comes back later, and logs one ERROR line naming the fix, on which an alarm can be set.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.model import ConfigurationError, DocumentError, ErrorCode, TransientError
from chalicelib.usage import count_provider_retry

T = TypeVar("T")

logger = logging.getLogger(__name__)

# The one log line every configuration error writes: stable, so a metric filter can count it.
CONFIGURATION_ERROR_LOG = "configuration error (the document will be retried): %s; fix: %s"


class Verdict(enum.Enum):
    RETRY = "retry"
    PERMANENT = "permanent"
    CONFIGURATION = "configuration"


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

# Error codes that retrying this request cannot fix: it is malformed, or the model rejects its input.
PERMANENT_CODES = frozenset({"ValidationException", "ModelErrorException"})

# Error codes that say the account or deployment is wrong, with what a person does about each.
PERMISSION_FIX = (
    "grant the function's role the permission the message names (infra/iam.tf); documents that ran out "
    "of retries meanwhile are in the DLQ: redrive it"
)
CREDENTIALS_FIX = "the AWS credentials are expired or invalid: refresh them (the function's role, a profile)"
CONFIGURATION_FIXES = {
    "AccessDeniedException": PERMISSION_FIX,
    "AccessDenied": PERMISSION_FIX,
    "ExpiredTokenException": CREDENTIALS_FIX,
    "ExpiredToken": CREDENTIALS_FIX,
    "UnrecognizedClientException": CREDENTIALS_FIX,
    "InvalidClientTokenId": CREDENTIALS_FIX,
    "InvalidSignatureException": CREDENTIALS_FIX,
    "ResourceNotFoundException": (
        "no such model or resource in this region: check QUARRY_EMBEDDING_MODEL_ID, "
        "QUARRY_EXTRACTION_MODEL_ID and QUARRY_BEDROCK_REGION"
    ),
    "ServiceQuotaExceededException": (
        "the account's Bedrock quota is spent: raise it in Service Quotas, or lower "
        "QUARRY_RECORD_CONCURRENCY and QUARRY_EMBEDDING_CONCURRENCY"
    ),
}
MODEL_ACCESS_FIX = (
    "enable access to the model in the Bedrock console (Model access) of the region the worker calls, "
    "or set QUARRY_EMBEDDING_MODEL_ID / QUARRY_EXTRACTION_MODEL_ID to a model the account may use"
)
# A ValidationException is usually the request's fault, except when it names the model id itself.
MODEL_ID_REJECTIONS = ("model identifier is invalid", "on-demand throughput", "inference profile")


# The retryable codes that mean "too many requests" rather than "the service is unwell".
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


def is_throttling(exc: BaseException) -> bool:
    """A provider's "slow down": a throttling error code, or HTTP 429."""
    if isinstance(exc, ClientError):
        code, _ = _error_code_and_message(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in THROTTLING_CODES or status == 429
    return getattr(exc, "status_code", None) == 429


def is_retryable_status(status: int) -> bool:
    """HTTP statuses worth retrying: too many requests, and server-side failures."""
    return status == 429 or status >= 500


def _error_code_and_message(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return error.get("Code", ""), str(error.get("Message", ""))


def _model_id_rejected(code: str, message: str) -> bool:
    lowered = message.lower()
    return code == "ValidationException" and any(fragment in lowered for fragment in MODEL_ID_REJECTIONS)


def classify_aws_error(exc: BaseException) -> Verdict | None:
    """RETRY, PERMANENT or CONFIGURATION for a botocore error; None for anything else (a bug: let it
    surface)."""
    if isinstance(exc, ClientError):
        code, message = _error_code_and_message(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in RETRYABLE_CODES:
            return Verdict.RETRY
        if code in CONFIGURATION_FIXES or _model_id_rejected(code, message):
            return Verdict.CONFIGURATION
        if code in PERMANENT_CODES:
            return Verdict.PERMANENT
        if status in (401, 403):
            return Verdict.CONFIGURATION
        return Verdict.RETRY if is_retryable_status(status) else Verdict.PERMANENT
    # Connection refused/reset, read and connect timeouts: the request may never have arrived.
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return Verdict.RETRY
    return None


def aws_configuration_fix(exc: BaseException) -> str:
    """What a person does about a configuration error, in a sentence."""
    if not isinstance(exc, ClientError):
        return "check the deployment's configuration"
    code, message = _error_code_and_message(exc)
    if _model_id_rejected(code, message) or "access to the model" in message.lower():
        return MODEL_ACCESS_FIX
    return CONFIGURATION_FIXES.get(code, PERMISSION_FIX)


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
    advise: Callable[[BaseException], str] = aws_configuration_fix,
    provider: str = "aws",
) -> T:
    """fn(), retried on retryable errors until `deadline_s` after the first attempt.

    Raises TransientError when retries run out, DocumentError(PROVIDER_ERROR, 'Code: message') on a
    permanent error, ConfigurationError (with `advise`'s fix, logged at ERROR) at once on a
    configuration error, and anything `classify` does not recognise unchanged. Each retry is counted
    for `provider` in the current usage meter (ProviderRetries / ProviderThrottles).
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
            if verdict is Verdict.CONFIGURATION:
                description, fix = describe(exc), advise(exc)
                logger.error(CONFIGURATION_ERROR_LOG, description, fix)
                raise ConfigurationError(description, fix) from exc
            try:
                backoff.wait(describe(exc))
            except TransientError as exhausted:
                raise exhausted from exc
            count_provider_retry(provider, throttled=is_throttling(exc))
