"""Sign-in: every route but the public ones needs a verified bearer token naming the caller's tenant.

Tokens are Cognito user-pool ID tokens by default (they carry `custom:tenant`; access tokens carry no
custom attributes), or any OIDC issuer's JWTs: issuer, audience, JWKS address, `token_use` and the
tenant claim are settings. Verification is PyJWT's (signature against the issuer's JWKS, issuer,
audience, expiry with a small leeway); the JWKS is cached and fetched again only for an unknown `kid`,
at most once per cool-down, so a flood of forged key ids cannot turn into a flood of fetches.

The check runs inside the app (middleware), not only at the gateway: `chalice local` lets every request
through a Cognito authorizer unchecked (aws/chalice#1479), so only an in-app check runs the same code on
a laptop as in AWS. README "Sign-in" says why this beats a Lambda authorizer on cost.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

PUBLIC_ROUTES = frozenset({("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/auth/config")})
WWW_AUTHENTICATE = 'Bearer realm="quarry"'
_SIGNING_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified token only: never from the request body."""

    subject: str
    tenant: str
    username: str | None = None


@dataclass(frozen=True)
class AuthConfig:
    issuer: str
    audience: str
    jwks_url: str
    token_use: str | None = "id"  # Cognito's claim; None for an issuer that has no such claim
    tenant_claim: str = "custom:tenant"
    leeway_s: int = 60
    jwks_cache_s: int = 3600
    jwks_timeout_s: float = 5.0
    # An unknown `kid` fetches the key set again at most this often: forged key ids cannot make
    # every request a fetch.
    jwks_refetch_cooldown_s: float = 30.0


class AuthFailure(Exception):
    """The request may not go on: 401 (who are you?), 403 (not allowed) or 503 (cannot check now)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _unauthenticated(message: str) -> AuthFailure:
    return AuthFailure(401, "unauthorized", message)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization` header: `Bearer <JWT>`, or the raw JWT on its own."""
    if not authorization or not authorization.strip():
        raise _unauthenticated("sign in: send Authorization: Bearer <ID token>")
    scheme, _, rest = authorization.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()
    if not token or " " in token:
        raise _unauthenticated("the Authorization header must be 'Bearer <ID token>'")
    return token


class TokenVerifier:
    def __init__(self, config: AuthConfig):
        import jwt  # on first use: the import is ~20 ms of a cold start that /health does not need

        self._config = config
        self._jwt = jwt
        self._keys = jwt.PyJWKClient(
            config.jwks_url,
            cache_jwk_set=True,
            lifespan=config.jwks_cache_s,
            timeout=config.jwks_timeout_s,
            cooldown_duration=config.jwks_refetch_cooldown_s,
        )

    def verify(self, authorization: str | None) -> Principal:
        jwt = self._jwt
        token = bearer_token(authorization)
        try:
            key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise AuthFailure(
                503, "auth_unavailable", "the sign-in keys cannot be fetched now; try again"
            ) from error
        except (jwt.PyJWKClientError, jwt.DecodeError) as error:
            raise _unauthenticated("the token is not signed by a key of the configured issuer") from error
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=_SIGNING_ALGORITHMS,
                audience=self._config.audience,
                issuer=self._config.issuer,
                leeway=self._config.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise _unauthenticated("the token has expired: sign in again") from error
        except jwt.InvalidAudienceError as error:
            raise _unauthenticated("the token was issued for another application") from error
        except jwt.InvalidIssuerError as error:
            raise _unauthenticated("the token was issued by another user pool or issuer") from error
        except jwt.PyJWTError as error:
            raise _unauthenticated(f"the token is not valid: {error}") from error
        if self._config.token_use and claims.get("token_use") != self._config.token_use:
            raise _unauthenticated(f"send the {self._config.token_use} token of your sign-in")
        tenant = claims.get(self._config.tenant_claim)
        if not isinstance(tenant, str) or not tenant.strip():
            raise AuthFailure(403, "no_tenant", "your account belongs to no tenant: ask an administrator")
        # The model loads on the first signed-in request, not at import: /health needs none of it.
        from chalicelib.keys import is_valid_tenant

        if not is_valid_tenant(tenant.strip()):
            raise AuthFailure(
                403, "invalid_tenant", "your account's tenant name is not valid here: ask an administrator"
            )
        return Principal(
            subject=str(claims["sub"]),
            tenant=tenant.strip(),
            username=claims.get("cognito:username") or claims.get("username"),
        )


_signed_in: ContextVar[Principal | None] = ContextVar("quarry_principal", default=None)


def sign_in(principal: Principal | None) -> Any:
    """Remember who this request is for (the middleware, once per request); returns the token that
    `sign_out` takes to forget it when the request ends."""
    return _signed_in.set(principal)


def sign_out(token: Any) -> None:
    _signed_in.reset(token)


def signed_in() -> Principal:
    """The verified caller of the request being served. Only the middleware sets it, so a route that
    asks without a check having run fails loudly instead of serving everyone."""
    principal = _signed_in.get()
    if principal is None:
        raise AuthFailure(401, "unauthorized", "sign in: send Authorization: Bearer <ID token>")
    return principal


def sign_in_config(
    issuer: str | None, client_id: str | None, region: str, cognito_endpoint: str | None
) -> dict[str, Any]:
    """What a client needs to sign in before it can call anything else (public, like an OIDC
    discovery document): the issuer, the app client id, and the Cognito endpoint to send
    InitiateAuth to when it is not AWS's own (the local stack's moto server)."""
    return {
        "issuer": issuer,
        "client_id": client_id,
        "region": region,
        "cognito_endpoint": cognito_endpoint,
        "token": "id",
        "header": "Authorization: Bearer <IdToken>",
    }
