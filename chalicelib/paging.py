"""Search result pages: the signed, opaque cursor, and how page n is cut so that paging a fixed store
never repeats or skips a result.

A ranking's order can depend on how deep it is computed (hybrid fusion over deeper candidate lists
moves chunks; ties at a cut can fall either way), so page n is not simply "results n*k to (n+1)*k of
one ranking". Instead page j is the best k of a ranking of depth d(j) that earlier pages did not show,
where d doubles from the first page's depth as pages need it. Page 0 is exactly the plain search;
page n recomputes pages 0..n-1 (one ranking per depth, at most log2(n) + 1 of them) to know what they
showed, which keeps the cursor small and the server stateless.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from chalicelib.model import InvalidRequest

T = TypeVar("T")
# How far a search can be paged: page * k + k results at most.
MAX_PAGED_RESULTS = 1000
_MAC_BYTES = 16


def depth_for(page: int, k: int, first_depth: int, max_depth: int) -> int:
    """The ranking depth page `page` is cut from: the first page's, doubled until it holds the page."""
    depth = max(first_depth, k)
    while depth < (page + 1) * k and depth < max_depth:
        depth *= 2
    return min(depth, max(max_depth, first_depth))


def cut_page(
    ranked: Callable[[int], list[T]],
    identity: Callable[[T], Hashable],
    page: int,
    k: int,
    first_depth: int,
    max_depth: int,
) -> tuple[list[T], bool]:
    """Page `page` of k items, and whether another page may follow. `ranked(depth)` is the ranking
    computed `depth` deep (called once per distinct depth)."""
    rankings: dict[int, list[T]] = {}
    shown: set[Hashable] = set()
    for j in range(page + 1):
        depth = depth_for(j, k, first_depth, max_depth)
        if depth not in rankings:
            rankings[depth] = ranked(depth)
        unseen = [item for item in rankings[depth] if identity(item) not in shown]
        segment = unseen[:k]
        if j == page:
            more_here = len(unseen) > k
            # A ranking cut at its depth may hold more deeper down.
            deeper = len(rankings[depth]) >= depth and depth < max_depth
            last = (page + 1) * k >= MAX_PAGED_RESULTS
            return segment, not last and len(segment) == k and (more_here or deeper)
        if len(segment) < k:
            return [], False  # the results ran out before this page
        shown.update(identity(item) for item in segment)
    raise AssertionError("unreachable")


class CursorSigner:
    """next_cursor tokens: {page, fingerprint of the search} and an HMAC-SHA256 over them, so a cursor
    is accepted only unaltered and only for the search (tenant, query and every option) that made it."""

    def __init__(self, key: bytes):
        self._key = key

    def issue(self, page: int, fingerprint: str) -> str:
        payload = json.dumps({"p": page, "f": fingerprint}, separators=(",", ":")).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return f"{_b64(payload)}.{_b64(mac)}"

    def page_of(self, cursor: str, fingerprint: str, k: int) -> int:
        """The page a cursor asks for; InvalidRequest (400) unless this API issued it for this search."""
        try:
            payload_part, mac_part = cursor.split(".")
            payload, mac = _unb64(payload_part), _unb64(mac_part)
        except ValueError:
            raise _forged() from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise _forged()
        decoded = json.loads(payload)
        if decoded.get("f") != fingerprint:
            raise InvalidRequest(
                "invalid_cursor", "cursor belongs to another search: send the same query with it"
            )
        page = decoded.get("p")
        if not isinstance(page, int) or page < 1 or page * k >= MAX_PAGED_RESULTS:
            raise _forged()
        return page


def fingerprint(tenant: str, options: dict[str, Any]) -> str:
    """What a cursor is bound to: the tenant and every option of the search but the cursor itself."""
    canonical = json.dumps({"tenant": tenant, **options}, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _forged() -> InvalidRequest:
    return InvalidRequest("invalid_cursor", "cursor is not one this API returned")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError("not base64") from error
