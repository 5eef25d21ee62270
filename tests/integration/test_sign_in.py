"""Token verification against real Cognito tokens from moto's user pool (and keys we make ourselves)."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from importlib import resources as package_files

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.api.auth import AuthConfig, AuthFailure, TokenVerifier
from devstack.identity import LocalUser, UserPool, add_user, cognito_client, provision_user_pool, sign_in

REGION = "us-east-1"
ALICE = LocalUser("alice", "Alice-pass-1", "acme")


@pytest.fixture
def pool(moto_endpoint: str) -> UserPool:
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return provision_user_pool(moto_endpoint, REGION, [ALICE])


def verifier_for(pool: UserPool, **overrides) -> TokenVerifier:
    return TokenVerifier(AuthConfig(pool.issuer, pool.client_id, pool.jwks_url, **overrides))


def token_of(pool: UserPool, user: LocalUser = ALICE) -> str:
    return sign_in(pool.client_id, user.username, user.password, REGION, pool.endpoint_url)


def moto_signing_key() -> dict:
    """moto signs every pool's tokens with this key, shipped inside moto: a test can mint tokens that
    differ from a real one in exactly one claim."""
    data = (package_files.files("moto.cognitoidp") / "resources" / "jwks-private.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


def resigned(token: str, **changes) -> str:
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    key = jwt.PyJWK(moto_signing_key())
    return jwt.encode(
        claims, key.key, algorithm="RS256", headers={"kid": jwt.get_unverified_header(token)["kid"]}
    )


def refused(verifier: TokenVerifier, header: str | None) -> AuthFailure:
    with pytest.raises(AuthFailure) as raised:
        verifier.verify(header)
    return raised.value


def test_a_pool_id_token_names_its_user_and_tenant(pool: UserPool) -> None:
    principal = verifier_for(pool).verify(f"Bearer {token_of(pool)}")
    assert (principal.tenant, principal.username) == ("acme", "alice")
    assert principal.subject


def test_a_raw_token_without_bearer_is_accepted(pool: UserPool) -> None:
    assert verifier_for(pool).verify(token_of(pool)).tenant == "acme"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc def", "Bearer not.a.jwt"])
def test_no_token_or_a_malformed_one_is_401(pool: UserPool, header: str | None) -> None:
    assert refused(verifier_for(pool), header).status == 401


def test_a_token_signed_by_another_key_is_401(pool: UserPool) -> None:
    claims = jwt.decode(token_of(pool), options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "dummy"})
    failure = refused(verifier_for(pool), f"Bearer {forged}")
    assert (failure.status, failure.code) == (401, "unauthorized")


def test_an_unsigned_token_is_401(pool: UserPool) -> None:
    claims = jwt.decode(token_of(pool), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "dummy"})
    assert refused(verifier_for(pool), unsigned).status == 401


def test_an_expired_token_is_401_beyond_the_leeway(pool: UserPool) -> None:
    now = int(time.time())
    expired = resigned(token_of(pool), iat=now - 7200, exp=now - 120)
    failure = refused(verifier_for(pool, leeway_s=60), expired)
    assert failure.status == 401 and "expired" in failure.message
    # Within the leeway a clock a little behind still accepts it.
    assert verifier_for(pool, leeway_s=300).verify(expired).tenant == "acme"


def test_a_token_for_another_app_client_is_401(pool: UserPool) -> None:
    idp = cognito_client(pool.endpoint_url, REGION)
    other_client = idp.create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    token = sign_in(other_client, ALICE.username, ALICE.password, REGION, pool.endpoint_url)
    failure = refused(verifier_for(pool), token)
    assert failure.status == 401 and "another application" in failure.message


def test_a_token_from_another_pool_is_401(pool: UserPool, moto_endpoint: str) -> None:
    idp = cognito_client(moto_endpoint, REGION)
    other_pool = idp.create_user_pool(
        PoolName="elsewhere", Schema=[{"Name": "tenant", "AttributeDataType": "String", "Mutable": True}]
    )["UserPool"]["Id"]
    other_client = idp.create_user_pool_client(
        UserPoolId=other_pool, ClientName="c", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    add_user(idp, other_pool, ALICE)
    token = sign_in(other_client, ALICE.username, ALICE.password, REGION, moto_endpoint)
    # Same signing key (moto's), same audience as ours, so only the issuer check can refuse it.
    verifier = TokenVerifier(AuthConfig(pool.issuer, other_client, pool.jwks_url))
    failure = refused(verifier, token)
    assert failure.status == 401 and "another user pool" in failure.message


def test_an_access_token_is_401_when_id_tokens_are_asked_for(pool: UserPool) -> None:
    answer = cognito_client(pool.endpoint_url, REGION).initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": ALICE.username, "PASSWORD": ALICE.password},
    )
    access = resigned(answer["AuthenticationResult"]["AccessToken"], aud=pool.client_id)
    failure = refused(verifier_for(pool), access)
    assert failure.status == 401 and "id token" in failure.message


def test_a_valid_token_without_a_tenant_is_403(pool: UserPool) -> None:
    idp = cognito_client(pool.endpoint_url, REGION)
    idp.admin_create_user(UserPoolId=pool.pool_id, Username="nomad", MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool.pool_id, Username="nomad", Password="Nomad-pass-1", Permanent=True
    )
    token = sign_in(pool.client_id, "nomad", "Nomad-pass-1", REGION, pool.endpoint_url)
    failure = refused(verifier_for(pool), token)
    assert (failure.status, failure.code) == (403, "no_tenant")


def test_an_unreachable_key_set_is_503_not_401(pool: UserPool) -> None:
    verifier = TokenVerifier(AuthConfig(pool.issuer, pool.client_id, "http://127.0.0.1:9/jwks.json"))
    assert refused(verifier, token_of(pool)).status == 503


class KeySet:
    """An issuer of our own: a JWKS server that counts its fetches and can rotate its key."""

    def __init__(self) -> None:
        self.fetches = 0
        self.rotate("k1")
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                body = json.dumps({"keys": [owner.public_jwk]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def rotate(self, kid: str) -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_jwk = {
            **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key())),
            "kid": kid,
        }

    def token(self, **claims) -> str:
        now = int(time.time())
        body = {
            "iss": "https://issuer.example",
            "aud": "app",
            "sub": "u1",
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        return jwt.encode(body, self.private_key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
def key_set() -> Iterator[KeySet]:
    keys = KeySet()
    yield keys
    keys.server.shutdown()


def test_another_oidc_issuer_works_with_its_own_claims(key_set: KeySet) -> None:
    config = AuthConfig("https://issuer.example", "app", key_set.url, token_use=None, tenant_claim="org")
    assert TokenVerifier(config).verify(key_set.token(org="globex")).tenant == "globex"


def test_the_key_set_is_cached_and_fetched_again_for_an_unknown_kid(key_set: KeySet) -> None:
    config = AuthConfig(
        "https://issuer.example",
        "app",
        key_set.url,
        token_use=None,
        tenant_claim="org",
        jwks_refetch_cooldown_s=0,
    )
    verifier = TokenVerifier(config)
    for _ in range(5):
        verifier.verify(key_set.token(org="acme"))
    assert key_set.fetches == 1
    key_set.rotate("k2")
    assert verifier.verify(key_set.token(org="acme")).tenant == "acme"
    assert key_set.fetches == 2


def test_forged_key_ids_do_not_fetch_the_key_set_again_within_the_cool_down(key_set: KeySet) -> None:
    config = AuthConfig("https://issuer.example", "app", key_set.url, token_use=None, tenant_claim="org")
    verifier = TokenVerifier(config)
    verifier.verify(key_set.token(org="acme"))
    forged = KeySet()
    try:
        for number in range(5):
            forged.rotate(f"forged-{number}")
            assert refused(verifier, forged.token(org="acme")).status == 401
    finally:
        forged.server.shutdown()
    assert key_set.fetches <= 2
