"""The retry policy: which botocore errors are retried, which are the account's fault (retried later,
never failing the document at once), and that retries stop at the deadline."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from chalicelib.adapters.aws_clients import client_config
from chalicelib.adapters.aws_retry import Verdict, call_with_backoff, classify_aws_error
from chalicelib.model import ConfigurationError, DocumentError, ErrorCode, TransientError
from tests.contract.conftest import FakeTime


def client_error(code: str, status: int, message: str = "something") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Converse",
    )


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (client_error("ThrottlingException", 429), Verdict.RETRY),
        (client_error("ServiceUnavailableException", 503), Verdict.RETRY),
        (client_error("ModelTimeoutException", 408), Verdict.RETRY),
        (client_error("ModelNotReadyException", 429), Verdict.RETRY),
        (client_error("InternalServerException", 500), Verdict.RETRY),
        (client_error("SomethingNew", 502), Verdict.RETRY),
        (
            EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
            Verdict.RETRY,
        ),
        (ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"), Verdict.RETRY),
        (client_error("ValidationException", 400), Verdict.PERMANENT),
        (client_error("ModelErrorException", 424), Verdict.PERMANENT),
        # Issue 12: account-level errors were PERMANENT (the document FAILED at once); now CONFIGURATION.
        (client_error("AccessDeniedException", 403), Verdict.CONFIGURATION),
        (client_error("ResourceNotFoundException", 404), Verdict.CONFIGURATION),
        (client_error("AccessDenied", 403), Verdict.CONFIGURATION),
        (client_error("ExpiredTokenException", 403), Verdict.CONFIGURATION),
        (client_error("ExpiredToken", 400), Verdict.CONFIGURATION),
        (client_error("UnrecognizedClientException", 403), Verdict.CONFIGURATION),
        (client_error("InvalidClientTokenId", 403), Verdict.CONFIGURATION),
        (client_error("ServiceQuotaExceededException", 400), Verdict.CONFIGURATION),
        (client_error("SomethingForbidden", 403), Verdict.CONFIGURATION),
        (
            client_error("ValidationException", 400, "The provided model identifier is invalid."),
            Verdict.CONFIGURATION,
        ),
        (client_error("SomethingElse", 400), Verdict.PERMANENT),
        (KeyError("a bug"), None),
    ],
)
def test_errors_are_classified(error: BaseException, verdict: Verdict | None) -> None:
    assert classify_aws_error(error) is verdict


def test_retries_with_full_jitter_capped_exponential_waits_until_success(fake_time: FakeTime) -> None:
    failures = [client_error("ThrottlingException", 429)] * 5

    def flaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    # jitter() = 1.0 shows the ceilings: base * 2**n, capped at max_s.
    result = call_with_backoff(
        flaky,
        deadline_s=100,
        base_s=0.5,
        max_s=3.0,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        jitter=lambda: 1.0,
    )
    assert result == "ok"
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_stops_at_the_deadline_with_a_transient_error(fake_time: FakeTime) -> None:
    calls = []

    def always_throttled() -> None:
        calls.append(fake_time.now)
        raise client_error("ThrottlingException", 429, "Too many requests")

    with pytest.raises(TransientError, match="ThrottlingException: Too many requests") as caught:
        call_with_backoff(
            always_throttled,
            deadline_s=10,
            base_s=1,
            max_s=4,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            jitter=lambda: 1.0,
        )
    # Waits 1, 2, 4 (7 s); the next 4 s wait would end past the 10 s deadline, so no fifth call.
    assert fake_time.sleeps == [1, 2, 4]
    assert len(calls) == 4
    assert sum(fake_time.sleeps) <= 10
    assert isinstance(caught.value.__cause__, ClientError)


def test_permanent_errors_raise_a_provider_error_at_once(fake_time: FakeTime) -> None:
    calls = []

    def rejected() -> None:
        calls.append(1)
        raise client_error("ValidationException", 400, "Malformed input request")

    with pytest.raises(DocumentError) as caught:
        call_with_backoff(rejected, deadline_s=60, sleep=fake_time.sleep, clock=fake_time.clock)
    assert caught.value.code is ErrorCode.PROVIDER_ERROR
    assert "ValidationException: Malformed input request" in caught.value.message
    assert calls == [1]
    assert fake_time.sleeps == []


def test_access_denied_is_a_configuration_error_raised_at_once_and_logged_with_its_fix(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 12: this was DocumentError(PROVIDER_ERROR), which failed the document for good; it is now
    # ConfigurationError, a TransientError, so the message is retried later. Still not retried within
    # the call: seconds do not grant a permission.
    calls = []

    def denied() -> None:
        calls.append(1)
        raise client_error("AccessDeniedException", 403, "not authorized to perform bedrock:InvokeModel")

    with (
        caplog.at_level(logging.ERROR, logger="chalicelib.adapters.aws_retry"),
        pytest.raises(ConfigurationError) as caught,
    ):
        call_with_backoff(denied, deadline_s=60, sleep=fake_time.sleep, clock=fake_time.clock)
    assert isinstance(caught.value, TransientError)
    assert not isinstance(caught.value, DocumentError)
    assert "AccessDeniedException: not authorized to perform bedrock:InvokeModel" in caught.value.message
    assert "infra/iam.tf" in caught.value.fix
    assert calls == [1]
    assert fake_time.sleeps == []
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage().startswith("configuration error")
    assert "AccessDeniedException" in line.getMessage() and caught.value.fix in line.getMessage()


@pytest.mark.parametrize(
    ("error", "fix_names"),
    [
        (
            client_error(
                "ExpiredTokenException", 403, "The security token included in the request is expired"
            ),
            "credentials",
        ),
        (client_error("UnrecognizedClientException", 403, "The security token is invalid"), "credentials"),
        (
            client_error(
                "AccessDeniedException",
                403,
                "You don't have access to the model with the specified model ID.",
            ),
            "Model access",
        ),
        (
            client_error("ResourceNotFoundException", 404, "Could not resolve the foundation model"),
            "QUARRY_EMBEDDING_MODEL_ID",
        ),
        (
            client_error("ValidationException", 400, "The provided model identifier is invalid."),
            "Model access",
        ),
    ],
)
def test_each_account_error_names_its_fix(fake_time: FakeTime, error: ClientError, fix_names: str) -> None:
    def fail() -> None:
        raise error

    with pytest.raises(ConfigurationError) as caught:
        call_with_backoff(fail, deadline_s=60, sleep=fake_time.sleep, clock=fake_time.clock)
    assert fix_names in caught.value.fix
    assert fake_time.sleeps == []


def test_unrecognised_exceptions_pass_through_unretried(fake_time: FakeTime) -> None:
    with pytest.raises(ZeroDivisionError):
        call_with_backoff(lambda: 1 / 0, deadline_s=60, sleep=fake_time.sleep, clock=fake_time.clock)
    assert fake_time.sleeps == []


def test_client_config_uses_adaptive_retries_and_timeouts() -> None:
    config = client_config(
        "bedrock-runtime", max_attempts=4, connect_timeout=3, read_timeout=20, max_pool_connections=16
    )
    assert config.retries == {"mode": "adaptive", "max_attempts": 4}
    assert (config.connect_timeout, config.read_timeout, config.max_pool_connections) == (3, 20, 16)
