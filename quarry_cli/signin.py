"""Signing in the way any client of the API does, and keeping the tokens between commands.

GET /auth/config names the app client, the region and (locally) the Cognito endpoint; InitiateAuth with
USER_PASSWORD_AUTH returns an ID token (the one the API checks: it carries the tenant) and a refresh
token. Both are cached per API in the user's config directory, readable by the user alone; an ID token
within a minute of its expiry is renewed with REFRESH_TOKEN_AUTH, so a password is asked for once.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from quarry_cli.api import Api
from quarry_cli.errors import UNREACHABLE, CliError

RENEW_BEFORE_S = 60


@dataclass
class Session:
    username: str
    id_token: str
    refresh_token: str | None
    expires_at: float
    client_id: str
    region: str
    cognito_endpoint: str | None


class TokenCache:
    """`tokens.json` in `directory`: {api url: Session}."""

    def __init__(self, directory: Path):
        self.path = directory / "tokens.json"

    def _all(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def get(self, api_url: str) -> Session | None:
        entry = self._all().get(api_url)
        try:
            return Session(**entry) if entry else None
        except TypeError:  # written by another version: sign in again
            return None

    def put(self, api_url: str, session: Session | None) -> None:
        entries = self._all()
        if session is None:
            entries.pop(api_url, None)
        else:
            entries[api_url] = asdict(session)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before anything is written: the tokens are the user's credentials.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(entries, file, indent=1)


def _cognito(region: str, endpoint: str | None) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    # InitiateAuth is one of Cognito's unsigned calls: no AWS credentials are needed or used.
    return boto3.client(
        "cognito-idp", region_name=region, endpoint_url=endpoint, config=Config(signature_version=UNSIGNED)
    )


def _initiate_auth(region: str, endpoint: str | None, client_id: str, flow: str, **params: str) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = _cognito(region, endpoint).initiate_auth(
            ClientId=client_id, AuthFlow=flow, AuthParameters=params
        )
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise CliError(
            f"sign-in refused: {detail.get('Message') or detail.get('Code')} ({detail.get('Code')})",
            UNREACHABLE,
        ) from None
    except BotoCoreError as error:
        raise CliError(f"cannot reach the sign-in service: {error}", UNREACHABLE) from None
    if "AuthenticationResult" not in answer:
        challenge = answer.get("ChallengeName", "a challenge")
        raise CliError(f"sign-in needs {challenge}, which this CLI does not answer", UNREACHABLE)
    return answer["AuthenticationResult"]


def sign_in(api: Api, username: str, password: str) -> Session:
    config = api.public("GET", "/auth/config")
    if not isinstance(config, dict) or not config.get("client_id"):
        raise CliError(f"{api.base_url} has no sign-in configured (GET /auth/config)", UNREACHABLE)
    region, endpoint, client_id = config["region"], config.get("cognito_endpoint"), config["client_id"]
    result = _initiate_auth(
        region, endpoint, client_id, "USER_PASSWORD_AUTH", USERNAME=username, PASSWORD=password
    )
    return Session(
        username=username,
        id_token=result["IdToken"],
        refresh_token=result.get("RefreshToken"),
        expires_at=time.time() + int(result.get("ExpiresIn", 3600)),
        client_id=client_id,
        region=region,
        cognito_endpoint=endpoint,
    )


def refreshed(session: Session) -> Session | None:
    """The session with a new ID token, or None when the refresh token is gone or refused."""
    if not session.refresh_token:
        return None
    try:
        result = _initiate_auth(
            session.region,
            session.cognito_endpoint,
            session.client_id,
            "REFRESH_TOKEN_AUTH",
            REFRESH_TOKEN=session.refresh_token,
        )
    except CliError:
        return None
    session.id_token = result["IdToken"]
    session.refresh_token = result.get("RefreshToken", session.refresh_token)
    session.expires_at = time.time() + int(result.get("ExpiresIn", 3600))
    return session


class Credentials:
    """The token for one API: the cached one, renewed when close to its expiry, or, when nothing is cached,
    a sign-in with QUARRY_USERNAME / QUARRY_PASSWORD when a script gave both."""

    def __init__(self, cache: TokenCache, api_url: str, username: str | None, password: str | None):
        self.cache = cache
        self.api_url = api_url
        self.username = username
        self.password = password
        self.api: Api | None = None

    def token(self) -> str:
        session = self.cache.get(self.api_url)
        if session and session.expires_at - RENEW_BEFORE_S > time.time():
            return session.id_token
        if session and (renewed := refreshed(session)):
            self.cache.put(self.api_url, renewed)
            return renewed.id_token
        if self.username and self.password and self.api:
            fresh = sign_in(self.api, self.username, self.password)
            self.cache.put(self.api_url, fresh)
            return fresh.id_token
        raise CliError(
            f"not signed in to {self.api_url}: run `quarry login --username NAME`"
            + (" (the saved sign-in has expired)" if session else ""),
            UNREACHABLE,
        )

    def renew(self) -> bool:
        """After a 401: try a refresh once; True if there is a new token to retry with."""
        session = self.cache.get(self.api_url)
        renewed = refreshed(session) if session else None
        if renewed:
            self.cache.put(self.api_url, renewed)
        return renewed is not None
