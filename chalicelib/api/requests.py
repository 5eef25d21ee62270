"""The API's request bodies, validated with pydantic on the first request that needs them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.extraction import check_extraction_schema

SearchMode = Literal["hybrid", "vector", "keyword"]


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
