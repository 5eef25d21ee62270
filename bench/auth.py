"""What sign-in and the per-tenant limit cost a request: bench/results/auth.json.

    python -m bench.auth [--requests 400] [--verifies 2000] [--uncached 100] [--out PATH]

1. The token check alone: one ID token from moto's Cognito verified again and again by one verifier
   (its key set cached, as in a warm API function) and by a new verifier each time (the key set
   fetched from the moto server first, as on a cold start).
2. POST /search over HTTP (Chalice's own local server, the real app, an embedded index of a few hundred
   chunks, the hashing embedder so the model's cost does not drown the difference), in three
   configurations taken in turns, request by request, so load on the machine falls on all three alike:
   no check (a verifier that accepts anything), the token check, the token check plus the per-tenant
   rate limit (one conditional DynamoDB update on moto).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.catalog_seed import record_indexed
from bench.common import RESULTS, free_port, log, percentile, publish, r, scratch_dir

SEARCH = {"query": "tidal energy harbour lighthouse", "mode": "keyword", "k": 10}


class AcceptAnyone:
    """The "no check" configuration: what the app would cost if it trusted every request."""

    def __init__(self, tenant: str):
        from chalicelib.api.auth import Principal

        self._principal = Principal(subject="bench", tenant=tenant)

    def verify(self, authorization: str | None) -> Any:
        return self._principal


def summary(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"p50_ms": r(percentile(ms, 50), 3), "p95_ms": r(percentile(ms, 95), 3), "n": len(ms)}


def measure_verification(pool: Any, token: str, verifies: int, uncached: int) -> dict[str, Any]:
    from chalicelib.api.auth import AuthConfig, TokenVerifier

    config = AuthConfig(pool.issuer, pool.client_id, pool.jwks_url)
    verifier = TokenVerifier(config)
    verifier.verify(token)  # the key set, once
    cached = []
    for _ in range(verifies):
        started = time.perf_counter()
        verifier.verify(token)
        cached.append(time.perf_counter() - started)
    cold = []
    for _ in range(uncached):
        started = time.perf_counter()
        TokenVerifier(config).verify(token)
        cold.append(time.perf_counter() - started)
    return {"cached_jwks": summary(cached), "uncached_jwks": summary(cold)}


def seed_index(settings: Any, tenant: str) -> None:
    from chalicelib.adapters.local_embedders import HashingEmbedder
    from chalicelib.adapters.sqlite import SqliteVectorIndex
    from chalicelib.model import Chunk, IndexedChunk

    embedder = HashingEmbedder()
    Path(settings.home).mkdir(parents=True, exist_ok=True)
    index = SqliteVectorIndex(Path(settings.home) / "index.sqlite3", embedder.dimensions)
    words = [
        "tidal",
        "energy",
        "harbour",
        "lighthouse",
        "keeper",
        "storm",
        "beacon",
        "ferry",
        "cargo",
        "tide",
    ]
    for number in range(300):
        text = " ".join(words[(number + i) % len(words)] for i in range(40)) + f" document {number}"
        chunk = Chunk(f"{number:032x}:v1:0", f"{number:032x}", 0, text, None, 0, len(text))
        indexed = IndexedChunk(
            chunk=chunk,
            vector=embedder.embed_documents([text])[0],
            version="v1",
            key=f"tenants/{tenant}/uploads/{number}.txt",
            content_type="text/plain",
            metadata={},
            tenant=tenant,
            model_id=embedder.model_id,
            dimensions=embedder.dimensions,
        )
        index.replace_document(chunk.document_id, "v1", [indexed])
    # Search shows only documents the catalog holds INDEXED (chalicelib/search_check.py).
    record_indexed(settings, [(f"{n:032x}", f"tenants/{tenant}/uploads/{n}.txt", tenant) for n in range(300)])


def post_search(url: str, token: str) -> float:
    request = urllib.request.Request(
        f"{url}/search",
        data=json.dumps(SEARCH).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - started


def measure_http(settings: Any, token: str, tenant: str, requests: int) -> dict[str, Any]:
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from app import app
    from chalicelib import bootstrap

    unlimited = replace(settings, searches_per_minute=0)
    containers = {
        "no_check": bootstrap.Container(unlimited),
        "token_check": bootstrap.Container(unlimited),
        "token_check_and_rate_limit": bootstrap.Container(replace(settings, searches_per_minute=10**9)),
    }
    containers["no_check"].__dict__["token_verifier"] = AcceptAnyone(tenant)
    port = free_port()
    server = LocalDevServer(
        app, Config.create(chalice_stage="local", api_gateway_stage="api"), "127.0.0.1", port
    )
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    samples: dict[str, list[float]] = {name: [] for name in containers}
    try:
        for container in containers.values():  # warm each: index matrix, key set, clients
            bootstrap.use_container(container)
            for _ in range(5):
                post_search(url, token)
        for _ in range(requests):
            for name, container in containers.items():
                bootstrap.use_container(container)
                samples[name].append(post_search(url, token))
    finally:
        bootstrap.use_container(None)
        server.shutdown()
    result = {name: summary(values) for name, values in samples.items()}
    base = result["no_check"]["p50_ms"]
    for name in ("token_check", "token_check_and_rate_limit"):
        result[name]["p50_added_ms"] = r(result[name]["p50_ms"] - base, 3)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--verifies", type=int, default=2000)
    parser.add_argument("--uncached", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "auth.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    from chalicelib.config import Settings
    from devstack.cloud import provision, start_moto
    from devstack.identity import LocalUser, provision_user_pool, sign_in
    from devstack.stage import LOCAL_CREDENTIALS

    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    endpoint = f"http://127.0.0.1:{free_port()}"
    moto = start_moto(endpoint)
    try:
        user = LocalUser("bench", "Bench-pass-1", "bench")
        pool = provision_user_pool(endpoint, "us-east-1", [user])
        token = sign_in(pool.client_id, user.username, user.password, "us-east-1", endpoint)
        settings = Settings(
            aws_endpoint_url=endpoint,
            home=str(scratch_dir("quarry-bench-auth")),
            embedder="hashing",
            extractor="local",
            vector_index="sqlite",
            auth_issuer=pool.issuer,
            auth_audience=pool.client_id,
            auth_jwks_url=pool.jwks_url,
        )
        provision(settings)
        seed_index(settings, user.tenant)
        log("token check alone")
        verification = measure_verification(pool, token, args.verifies, args.uncached)
        log(f"POST /search x {args.requests} per configuration")
        http = measure_http(settings, token, user.tenant, args.requests)
    finally:
        moto.stop()
    results = {"verification": verification, "search_http": http, "search_body": SEARCH}
    log(json.dumps(results, indent=1))
    return publish(results, args.out, started)


if __name__ == "__main__":
    main()
