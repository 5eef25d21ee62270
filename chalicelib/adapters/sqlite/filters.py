"""SearchFilters, applied two ways that must agree: as SQL conditions for keyword search, and as a
mask over facet groups for vector search. The tenant is always one of the conditions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.sqlite.expression import attributes, expression_sql, matches
from chalicelib.model import FilterExpression, SearchFilters

# How many typed filters' group masks a Facets keeps (see Facets.allowed).
EXPRESSION_CACHE_SIZE = 64


def filter_sql(filters: SearchFilters, alias: str = "c") -> tuple[str, list[Any]]:
    """SQL conditions (joined by AND) and their parameters for `filters`, the tenant's first."""
    clauses: list[str] = [f"{alias}.tenant = ?"]
    params: list[Any] = [filters.tenant]
    if filters.content_types:
        clauses.append(f"{alias}.content_type IN ({','.join('?' * len(filters.content_types))})")
        params.extend(filters.content_types)
    if filters.key_prefix:
        clauses.append(f"substr({alias}.key, 1, ?) = ?")
        params.extend([len(filters.key_prefix), filters.key_prefix])
    for name, value in filters.metadata:
        # json_each rather than json_extract: a metadata key may hold any character, and a JSON path
        # built from it would need escaping SQLite's path syntax does not offer.
        clauses.append(
            f"EXISTS (SELECT 1 FROM json_each({alias}.metadata) AS m"
            " WHERE m.key = ? AND m.type = 'text' AND m.value = ?)"
        )
        params.extend([name, value])
    if filters.document_ids:
        clauses.append(f"{alias}.document_id IN ({','.join('?' * len(filters.document_ids))})")
        params.extend(filters.document_ids)
    if filters.expression is not None:
        sql, expression_params = expression_sql(filters.expression, alias)
        clauses.append(sql)
        params.extend(expression_params)
    return " AND ".join(clauses), params


def is_unfiltered(filters: SearchFilters) -> bool:
    """True when no filter but the tenant is set."""
    return not (
        filters.content_types
        or filters.key_prefix
        or filters.metadata
        or filters.document_ids
        or filters.expression is not None
    )


class Facets:
    """What filters test, per group of rows sharing (tenant, document, key, content type, metadata,
    created_at):
    usually one group per document, so a filter is decided per document rather than per chunk.

    Inverted lists (tenant, content type, metadata pair, document -> groups) make a filter cost what it
    matches rather than one Python call per group; only a key prefix is tested against every key.
    It mirrors filter_sql, which applies the same filters on the keyword side.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str, str, str, str, str], int] = {}
        # Each group's filter attributes, for typed filters; and the masks of recent typed filters,
        # extended as groups arrive (groups are only ever added), so a repeated filter costs nothing.
        self._attributes: list[dict] = []
        self._expression_masks: dict[str, list[bool]] = {}
        self.keys: list[str] = []
        self._keys_as_array = None
        self._by_content_type: dict[str, list[int]] = {}
        self._by_metadata: dict[tuple[str, str], list[int]] = {}
        self._by_document: dict[str, list[int]] = {}
        self._by_tenant: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def group(
        self,
        tenant: str,
        document_id: str,
        key: str,
        content_type: str,
        metadata_json: str,
        created_at: str = "",
    ) -> int:
        ident = (tenant, document_id, key, content_type, metadata_json, created_at)
        group = self._ids.get(ident)
        if group is None:
            group = self._ids[ident] = len(self.keys)
            self.keys.append(key)
            self._by_tenant.setdefault(tenant, []).append(group)
            self._by_content_type.setdefault(content_type, []).append(group)
            self._by_document.setdefault(document_id, []).append(group)
            metadata = json.loads(metadata_json)
            # The old `filters.metadata` matches string values only (a typed value needs `filter`).
            for name, value in metadata.items():
                if isinstance(value, str):
                    self._by_metadata.setdefault((name, value), []).append(group)
            self._attributes.append(attributes(metadata, key, content_type, document_id, created_at))
        return group

    def allowed(self, filters: SearchFilters):
        """A boolean mask over groups: those every set filter accepts."""
        import numpy as np

        ok = self._any_of(self._by_tenant, [filters.tenant])
        if filters.content_types:
            ok &= self._any_of(self._by_content_type, filters.content_types)
        if filters.document_ids:
            ok &= self._any_of(self._by_document, filters.document_ids)
        for pair in filters.metadata:
            ok &= self._any_of(self._by_metadata, [pair])
        if filters.key_prefix:
            ok &= np.strings.startswith(self._key_array(), filters.key_prefix)
        if filters.expression is not None:
            ok &= self._expression_mask(filters.expression)
        return ok

    def _expression_mask(self, expression: FilterExpression):
        """Which groups a typed filter accepts: a Python test per group, since groups are about one per
        document (far fewer than chunks), cached per filter and extended only by groups added since."""
        import numpy as np

        # Keyed by repr: dataclass equality says equals(k, True) == equals(k, 1) == equals(k, 1.0).
        cache_key = repr(expression)
        mask = self._expression_masks.pop(cache_key, None)
        if mask is None:
            if len(self._expression_masks) >= EXPRESSION_CACHE_SIZE:
                self._expression_masks.pop(next(iter(self._expression_masks)))
            mask = []
        mask.extend(matches(expression, attrs) for attrs in self._attributes[len(mask) :])
        self._expression_masks[cache_key] = mask  # most recently used last
        return np.array(mask, dtype=bool)

    def single_tenant(self, tenant: str) -> bool:
        """True when every group is `tenant`'s, so the tenant filter passes every row (a deployment
        of one tenant pays nothing for it)."""
        return len(self._by_tenant) == 1 and len(self._by_tenant.get(tenant, ())) == len(self.keys)

    def _key_array(self):
        """The keys as a numpy string array, so a prefix test is one C loop, not a Python call per
        group; rebuilt on the first prefix search after new groups arrive."""
        import numpy as np

        if self._keys_as_array is None or len(self._keys_as_array) != len(self.keys):
            self._keys_as_array = np.array(self.keys, dtype=np.str_)
        return self._keys_as_array

    def _any_of(self, inverted: dict, values: Iterable):
        import numpy as np

        mask = np.zeros(len(self.keys), dtype=bool)
        for value in values:
            mask[inverted.get(value, [])] = True
        return mask
