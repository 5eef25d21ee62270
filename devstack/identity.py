"""The local user pool: a Cognito user pool and app client on the moto server, with the users of
QUARRY_LOCAL_USERS, signed in to exactly as against a real pool (InitiateAuth, USER_PASSWORD_AUTH).

moto issues RS256 ID tokens that carry `custom:tenant` and serves the pool's keys at
`{endpoint}/{pool_id}/.well-known/jwks.json`, while the tokens name the real
`https://cognito-idp.{region}.amazonaws.com/{pool_id}` issuer: so the app's issuer and JWKS address are
set separately. moto signs with a fixed key shipped inside moto: trust it for the local stage only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

POOL_NAME = "quarry-local-users"
CLIENT_NAME = "quarry-local-clients"
TENANT_ATTRIBUTE = "tenant"  # read back as the `custom:tenant` claim
DEFAULT_USERS = "demo:Quarry-demo-1:demo"


@dataclass(frozen=True)
class LocalUser:
    username: str
    password: str
    tenant: str


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    client_id: str
    region: str
    endpoint_url: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint_url.rstrip('/')}/{self.pool_id}/.well-known/jwks.json"

    def app_settings(self) -> dict[str, str]:
        """The variables that point the app's token check at this pool."""
        return {
            "QUARRY_AUTH_ISSUER": self.issuer,
            "QUARRY_AUTH_AUDIENCE": self.client_id,
            "QUARRY_AUTH_JWKS_URL": self.jwks_url,
        }


def parse_users(spec: str) -> list[LocalUser]:
    """`username:password:tenant`, comma-separated."""
    users = []
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        fields = entry.split(":")
        if len(fields) != 3 or not all(fields):
            raise SystemExit(f"QUARRY_LOCAL_USERS entry {entry!r} is not username:password:tenant")
        users.append(LocalUser(*fields))
    return users


def cognito_client(endpoint_url: str | None, region: str) -> Any:
    import boto3

    return boto3.client("cognito-idp", region_name=region, endpoint_url=endpoint_url)


def provision_user_pool(endpoint_url: str, region: str, users: list[LocalUser]) -> UserPool:
    """Create the pool, its app client and `users` (with permanent passwords); safe to run again."""
    idp = cognito_client(endpoint_url, region)
    pools = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == POOL_NAME]
    if pools:
        pool_id = pools[0]["Id"]
    else:
        pool_id = idp.create_user_pool(
            PoolName=POOL_NAME,
            Schema=[{"Name": TENANT_ATTRIBUTE, "AttributeDataType": "String", "Mutable": True}],
        )["UserPool"]["Id"]
    clients = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    named = [c for c in clients if c["ClientName"] == CLIENT_NAME]
    if named:
        client_id = named[0]["ClientId"]
    else:
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id, ClientName=CLIENT_NAME, ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
    for user in users:
        add_user(idp, pool_id, user)
    return UserPool(pool_id, client_id, region, endpoint_url)


def add_user(idp: Any, pool_id: str, user: LocalUser) -> None:
    with contextlib.suppress(idp.exceptions.UsernameExistsException):
        idp.admin_create_user(
            UserPoolId=pool_id,
            Username=user.username,
            UserAttributes=[{"Name": f"custom:{TENANT_ATTRIBUTE}", "Value": user.tenant}],
            MessageAction="SUPPRESS",
        )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
    )


def sign_in(client_id: str, username: str, password: str, region: str, endpoint_url: str | None) -> str:
    """The user's ID token, by the same call a client makes against a real pool."""
    answer = cognito_client(endpoint_url, region).initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return answer["AuthenticationResult"]["IdToken"]
