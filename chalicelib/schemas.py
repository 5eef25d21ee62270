"""JSON shapes validated at the edges: the extraction every extractor fills, and API requests."""

from __future__ import annotations

from typing import Literal

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


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=512)
    content_type: str | None = Field(None, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)

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

    content_type: str | list[str] | None = None
    key_prefix: str | None = Field(None, max_length=1024)
    metadata: dict[str, str] = Field(default_factory=dict)
    document_id: str | list[str] | None = None


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
