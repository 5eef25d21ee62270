import pytest

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.bedrock_embedder import TitanEmbedder
from chalicelib.adapters.bedrock_extractor import BedrockExtractor
from chalicelib.bootstrap import Container, UnknownAdapter
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
    settings = Settings(aws_endpoint_url="http://127.0.0.1:5999", region="us-west-2")
    assert aws_client("s3", settings).meta.endpoint_url == "http://127.0.0.1:5999"
    assert aws_client("dynamodb", settings).meta.endpoint_url == "http://127.0.0.1:5999"
    titan = TitanEmbedder.from_settings(settings)
    claude = BedrockExtractor.from_settings(settings)
    for adapter in (titan, claude):
        assert adapter.client.meta.endpoint_url == "https://bedrock-runtime.us-west-2.amazonaws.com"


@pytest.mark.parametrize("field", ["embedder", "extractor", "vector_index"])
def test_an_unknown_adapter_name_is_a_clear_error(field):
    container = Container(Settings(**{field: "nope"}))
    with pytest.raises(UnknownAdapter, match=f"QUARRY_{field.upper()}='nope'"):
        getattr(container, "index" if field == "vector_index" else field)
