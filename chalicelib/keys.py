"""Tenant names, and where a tenant's objects live in the raw and processed buckets."""

from __future__ import annotations

import re

# Tenant names go into S3 keys and index filters: a short, plain alphabet, and never "." or "..".
_TENANT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TENANT_KEY_PREFIX = "tenants/"


def is_valid_tenant(name: object) -> bool:
    return isinstance(name, str) and bool(_TENANT_NAME.fullmatch(name)) and name.strip(".") != ""


def tenant_of_key(key: str) -> str | None:
    """The tenant an object belongs to by its key, `tenants/{tenant}/...`; None outside any tenant
    prefix (or under one whose name is not a valid tenant name)."""
    if not key.startswith(TENANT_KEY_PREFIX):
        return None
    name, slash, rest = key[len(TENANT_KEY_PREFIX) :].partition("/")
    return name if slash and rest and is_valid_tenant(name) else None


def upload_key(tenant: str, upload_id: str, name: str) -> str:
    """Where an upload through the API puts its object in the raw bucket."""
    return f"{TENANT_KEY_PREFIX}{tenant}/uploads/{upload_id}/{name}"


def processed_key(tenant: str, document_id: str) -> str:
    """Where a document's processed JSON lives in the processed-output bucket."""
    return f"{TENANT_KEY_PREFIX}{tenant}/processed/{document_id}.json"
