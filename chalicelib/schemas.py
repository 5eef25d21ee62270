"""JSON shapes validated at the edges: the extraction every extractor fills, and API requests."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Entities(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[str] = Field(default_factory=list, description="Names of people mentioned")
    organizations: list[str] = Field(default_factory=list, description="Companies, institutions")
    dates: list[str] = Field(default_factory=list, description="Dates as written or ISO 8601")
    amounts: list[str] = Field(default_factory=list, description="Money amounts with currency")
    emails: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)


class Extraction(BaseModel):
    """What the extractor reports about a document. Local and LLM extractors fill the same shape."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, description="The document's title")
    summary: str = Field("", description="Two or three sentences on what the document says")
    language: str | None = Field(None, description="ISO 639-1 code of the main language")
    document_type: str = Field(
        "other", description="e.g. article, report, email, letter, invoice, table, code, other"
    )
    entities: Entities = Field(default_factory=Entities)
    keywords: list[str] = Field(default_factory=list, description="Up to 10 key phrases")


SearchMode = Literal["hybrid", "vector", "keyword"]

MAX_EXTRACTION_SCHEMA_BYTES = 16_384


def schema_violation(data: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """Why `data` does not satisfy `schema`, or None when it does."""
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(schema).iter_errors(data)), None)
    return None if error is None else f"{'/'.join(map(str, error.absolute_path)) or 'data'}: {error.message}"


def check_extraction_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError unless `schema` is a JSON Schema for an object, small enough to send to a model
    as a tool definition and to store with the document."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if len(json.dumps(schema)) > MAX_EXTRACTION_SCHEMA_BYTES:
        raise ValueError(f"extraction_schema is larger than {MAX_EXTRACTION_SCHEMA_BYTES} bytes")
    if schema.get("type") != "object":
        raise ValueError('extraction_schema must describe an object ("type": "object")')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"extraction_schema is not a valid JSON Schema: {error.message}") from error


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=512)
    content_type: str | None = Field(None, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)
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
    def _small_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 20:
            raise ValueError("at most 20 metadata entries")
        for key, item in value.items():
            if not key or len(key) > 64 or len(item) > 512:
                raise ValueError("metadata keys are 1-64 characters, values at most 512")
        return value


class SearchFiltersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str | list[str] | None = Field(None, max_length=50)
    key_prefix: str | None = Field(None, max_length=1024)
    # As many pairs as a document can carry (see UploadRequest).
    metadata: dict[str, str] = Field(default_factory=dict, max_length=20)
    document_id: str | list[str] | None = Field(None, max_length=100)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4096)
    k: int = Field(10, ge=1, le=100)
    mode: SearchMode = "hybrid"
    filters: SearchFiltersRequest | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must contain some text")
        return value
