import threading

import pytest

from chalicelib.adapter_factory import UnknownAdapter
from chalicelib.adapters.aws_clients import STORAGE_MAX_POOL_CONNECTIONS, aws_client
from chalicelib.bootstrap import Container
from chalicelib.config import Settings


def test_settings_come_from_quarry_variables_with_types():
    settings = Settings.from_env(
        {
            "QUARRY_CHUNK_TOKENS": "300",
            "QUARRY_EMBEDDER": "titan",
            "AWS_REGION": "eu-west-1",
            "QUARRY_OPENSEARCH_ENDPOINT": "",
        }
    )
    assert settings.chunk_tokens == 300 and settings.embedder == "titan"
    assert settings.region == "eu-west-1" and settings.opensearch_endpoint is None
    assert Settings.from_env({}).aws_endpoint_url is None


def test_hybrid_mode_sends_storage_to_moto_and_models_to_aws():
    settings = Settings(
        aws_endpoint_url="http://127.0.0.1:5999", region="us-west-2", embedder="titan", extractor="bedrock"
    )
    container = Container(settings)
    assert container.storage_client("s3").meta.endpoint_url == "http://127.0.0.1:5999"
    assert container.storage_client("dynamodb").meta.endpoint_url == "http://127.0.0.1:5999"
    titan = container.embedder
    claude = container.extractor
    for adapter in (titan, claude):
        assert adapter.client.meta.endpoint_url == "https://bedrock-runtime.us-west-2.amazonaws.com"


def test_bedrock_region_overrides_the_region_for_bedrock_only():
    settings = Settings(region="us-west-2", bedrock_region="eu-central-1", embedder="titan")
    container = Container(settings)
    assert container.storage_client("s3").meta.region_name == "us-west-2"
    assert container.embedder.client.meta.region_name == "eu-central-1"


def test_the_titan_embedder_and_the_bedrock_extractor_follow_settings():
    settings = Settings(
        embedder="titan",
        extractor="bedrock",
        embedding_model_id="amazon.titan-embed-text-v2:0",
        embedding_dimensions=512,
        embedding_concurrency=6,
        extraction_model_id="anthropic.claude-test",
    )
    container = Container(settings)
    titan = container.embedder
    assert (titan.model_id, titan.dimensions, titan.concurrency) == ("amazon.titan-embed-text-v2:0", 512, 6)
    assert container.extractor.model_id == "anthropic.claude-test"


def client_settings(client) -> tuple:
    config = client.meta.config
    return (
        config.retries,
        config.connect_timeout,
        config.read_timeout,
        config.max_pool_connections,
        config.s3,
        config.signature_version,
    )


def test_each_client_keeps_its_retries_timeouts_and_pool():
    """botocore reports total attempts: the first call plus max_attempts retries."""
    settings = Settings(
        aws_endpoint_url="http://127.0.0.1:5999",
        embedder="titan",
        extractor="bedrock",
        embedding_concurrency=8,
        record_concurrency=16,
    )
    container = Container(settings)
    storage_retries = {"mode": "adaptive", "total_max_attempts": 6}
    bedrock_retries = {"mode": "adaptive", "total_max_attempts": 4}
    assert client_settings(container.storage_client("s3")) == (
        storage_retries,
        5,
        60,
        STORAGE_MAX_POOL_CONNECTIONS,
        {"addressing_style": "path"},
        "s3v4",
    )
    assert client_settings(container.storage_client("dynamodb"))[:4] == (
        storage_retries,
        5,
        60,
        STORAGE_MAX_POOL_CONNECTIONS,
    )
    assert client_settings(container.embedder.client) == (bedrock_retries, 5, 30, 8, None, "v4")
    assert client_settings(container.extractor.client) == (bedrock_retries, 5, 120, 16, None, "v4")
    # The extractor's pool never shrinks below botocore's default of 10.
    small = Container(Settings(extractor="bedrock", record_concurrency=1))
    assert small.extractor.client.meta.config.max_pool_connections == 10


def test_storage_clients_are_cached_per_thread_service_region_and_endpoint():
    s3 = aws_client("s3", region="us-west-2", endpoint_url="http://127.0.0.1:5999")
    assert aws_client("s3", region="us-west-2", endpoint_url="http://127.0.0.1:5999") is s3
    assert aws_client("s3", region="us-west-2", endpoint_url="http://127.0.0.1:5998") is not s3
    assert aws_client("s3", region="eu-west-1", endpoint_url="http://127.0.0.1:5999") is not s3
    assert aws_client("dynamodb", region="us-west-2", endpoint_url="http://127.0.0.1:5999") is not s3
    other_thread: list[object] = []
    thread = threading.Thread(
        target=lambda: other_thread.append(
            aws_client("s3", region="us-west-2", endpoint_url="http://127.0.0.1:5999")
        )
    )
    thread.start()
    thread.join()
    assert other_thread[0] is not s3


def test_s3_at_aws_uses_virtual_hosted_addressing():
    s3 = aws_client("s3", region="us-west-2")
    assert s3.meta.endpoint_url == "https://s3.us-west-2.amazonaws.com"
    assert client_settings(s3)[4:] == (None, "s3v4")


@pytest.mark.parametrize("field", ["embedder", "extractor", "vector_index"])
def test_an_unknown_adapter_name_is_a_clear_error(field):
    container = Container(Settings(**{field: "nope"}))
    with pytest.raises(UnknownAdapter, match=f"QUARRY_{field.upper()}='nope'"):
        getattr(container, "index" if field == "vector_index" else field)
