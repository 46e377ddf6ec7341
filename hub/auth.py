"""Bearer tokens: customer / amk / admin / service JWTs, and per-payment subscribe tokens.

User tokens are HS256 with ``PAYHUB_JWT_SECRET`` (sandbox) or verified against a JWKS URL
(production). Subscribe tokens are minted by PayHub itself with ``PAYHUB_SUBSCRIBE_SECRET`` and
allow exactly one payment's stream until they expire.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import HTTPConnection

from hub.errors import Forbidden, Unauthorized

ROLES = ("customer", "amk", "admin", "service")
SUBSCRIBER = "subscriber"
_ISSUER = "payhub"
_SUBSCRIBE_AUDIENCE = "payhub:subscribe"


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    payment_id: int | None = None

    def require(self, *roles: str) -> Principal:
        if self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this", details={"allowed": list(roles)})
        return self

    def may_watch(self, payment_id: int) -> bool:
        return self.role == "admin" or (self.role == SUBSCRIBER and self.payment_id == payment_id)


class Authenticator:
    def __init__(self, *, secret: str, subscribe_secret: str, jwks_url: str = "") -> None:
        self._secret = secret
        self._subscribe_secret = subscribe_secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None

    def issue(self, sub: str, role: str, ttl_s: int = 3600) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not self._secret:
            raise ValueError("no PAYHUB_JWT_SECRET configured: tokens come from the identity provider")
        now = int(time.time())
        claims = {"sub": sub, "role": role, "iss": _ISSUER, "iat": now, "exp": now + ttl_s}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def issue_subscribe(self, payment_id: int, expires_at: float) -> str:
        now = int(time.time())
        claims = {
            "sub": f"payment:{payment_id}",
            "pid": payment_id,
            "aud": _SUBSCRIBE_AUDIENCE,
            "iss": _ISSUER,
            "iat": now,
            "exp": int(expires_at),
        }
        return jwt.encode(claims, self._subscribe_secret, algorithm="HS256")

    async def verify(self, token: str) -> Principal:
        """Any valid token: a user token or a subscribe token. Raises Unauthorized."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed bearer token") from exc
        if unverified.get("aud") == _SUBSCRIBE_AUDIENCE:
            claims = self._decode(token, self._subscribe_secret, ["HS256"], audience=_SUBSCRIBE_AUDIENCE)
            return Principal(str(claims["sub"]), SUBSCRIBER, int(claims["pid"]))
        if self._jwks is not None and header.get("alg", "").startswith(("RS", "ES", "PS")):
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = self._decode(token, signing_key.key, [str(header["alg"])])
        elif self._secret:
            claims = self._decode(token, self._secret, ["HS256"])
        else:
            raise Unauthorized("Token algorithm not accepted")
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthorized("Token has no PayHub role")
        return Principal(str(claims.get("sub", "")), str(role))

    @staticmethod
    def _decode(token: str, key: Any, algorithms: list[str], audience: str | None = None) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=audience,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid bearer token") from exc
        return claims


def bearer(conn: HTTPConnection) -> str | None:
    """The token from ``Authorization: Bearer …`` or, for EventSource, ``?token=``."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return conn.query_params.get("token") or None


async def authenticate(conn: HTTPConnection, auth: Authenticator, *roles: str) -> Principal:
    token = bearer(conn)
    if token is None:
        raise Unauthorized("Missing bearer token")
    principal = await auth.verify(token)
    return principal.require(*roles) if roles else principal
