"""The API's request bodies, validated with pydantic on the first request that needs them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
)

from chalicelib.extraction import check_extraction_schema
from chalicelib.filtering import MAX_ABS_NUMBER, parse_filter
from chalicelib.model import FilterCondition, FilterExpression, FilterGroup

SearchMode = Literal["hybrid", "vector", "keyword"]
# A metadata value: a string, number, boolean or list of strings (bounded in _small_metadata).
MetadataValue = StrictStr | StrictBool | StrictInt | StrictFloat | list[StrictStr]
MAX_METADATA_LIST = 20
MAX_METADATA_LIST_ITEM = 256


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=512)
    content_type: str | None = Field(None, max_length=255)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    extraction_schema: dict[str, Any] | None = Field(
        None, description="A JSON Schema (object) the extraction for this document must satisfy"
    )

    @field_validator("extraction_schema")
    @classmethod
    def _valid_json_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_extraction_schema(value)
        return value

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if "\x00" in value or value.strip() in {"", ".", ".."}:
            raise ValueError("filename must be a plain file name")
        return value

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        if len(value) > 20:
            raise ValueError("at most 20 metadata entries")
        for key, item in value.items():
            if not key or len(key) > 64:
                raise ValueError("metadata keys are 1-64 characters")
            if isinstance(item, str) and len(item) > 512:
                raise ValueError(f"metadata {key!r}: strings are at most 512 characters")
            if isinstance(item, list) and (
                len(item) > MAX_METADATA_LIST or any(len(s) > MAX_METADATA_LIST_ITEM for s in item)
            ):
                raise ValueError(
                    f"metadata {key!r}: lists hold at most {MAX_METADATA_LIST} strings"
                    f" of at most {MAX_METADATA_LIST_ITEM} characters"
                )
            number = isinstance(item, int | float) and not isinstance(item, bool)
            if number and (item != item or abs(item) > MAX_ABS_NUMBER):
                raise ValueError(f"metadata {key!r}: numbers are finite and at most 2**53 in magnitude")
        return value


class SearchFiltersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str | list[str] | None = Field(None, max_length=50)
    key_prefix: str | None = Field(None, max_length=1024)
    # As many pairs as a document can carry (see UploadRequest).
    metadata: dict[str, str] = Field(default_factory=dict, max_length=20)
    document_id: str | list[str] | None = Field(None, max_length=100)


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)
    k: int = Field(5, ge=1, le=20, description="How many chunks to retrieve and answer from")
    filters: SearchFiltersRequest | None = None
    filter: Annotated[
        FilterExpression | None,
        WithJsonSchema({"anyOf": [{"$ref": "#/components/schemas/Filter"}, {"type": "null"}]}),
    ] = None

    @field_validator("filter", mode="plain")
    @classmethod
    def _parsed_filter(cls, value: Any) -> FilterExpression | None:
        return (
            value
            if value is None or isinstance(value, FilterCondition | FilterGroup)
            else parse_filter(value)
        )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must contain some text")
        return value


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4096)
    k: int = Field(10, ge=1, le=100)
    mode: SearchMode = "hybrid"
    filters: SearchFiltersRequest | None = None
    # Knowledge Bases' RetrievalFilter shape, parsed by chalicelib.filtering into the typed tree; its
    # JSON schema is filtering.filter_json_schema, which the OpenAPI document holds as "Filter".
    filter: Annotated[
        FilterExpression | None,
        WithJsonSchema({"anyOf": [{"$ref": "#/components/schemas/Filter"}, {"type": "null"}]}),
    ] = None

    group_by: Literal["chunk", "document"] = Field(
        "chunk", description='"document": one result per document, its best chunk first, ranked by it'
    )
    chunks_per_document: int = Field(3, ge=1, le=10, description="group_by document: chunks per document")
    cursor: str | None = Field(None, max_length=1024, description="next_cursor of the previous page")
    min_score: float | None = Field(
        None, allow_inf_nan=False, description="Leave out results scoring below this (the mode's own score)"
    )

    rerank: bool | None = Field(
        None, description="Rerank the first candidates with a reranking model (default: the deployment's)"
    )

    @field_validator("filter", mode="plain")
    @classmethod
    def _parsed_filter(cls, value: Any) -> FilterExpression | None:
        return (
            value
            if value is None or isinstance(value, FilterCondition | FilterGroup)
            else parse_filter(value)
        )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must contain some text")
        return value
