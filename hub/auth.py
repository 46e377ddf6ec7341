"""Bearer tokens: customer / amk / admin / service JWTs, and per-payment subscribe tokens.

Three kinds of token, told apart by their ``aud`` claim and each checked with its own key:

* user tokens (customer, amk, admin): HS256 with ``PAYHUB_JWT_SECRET``, or, with ``PAYHUB_JWT_JWKS_URL``,
  RS/PS/ES-signed by the identity provider and checked against its JWK Set (keys fetched by PyJWT's
  ``PyJWKClient``, cached), its ``aud`` (``PAYHUB_JWT_AUDIENCE``) and ``iss`` (``PAYHUB_JWT_ISSUER``);
* service tokens (``aud: payhub:service``) that PayHub's services mint for each other with
  ``PAYHUB_SERVICE_TOKEN_SECRET`` (HS256), so that JWKS-only production still has a key to call itself;
* subscribe tokens (``aud: payhub:subscribe``), minted with ``PAYHUB_SUBSCRIBE_SECRET``, allowing exactly
  one payment's stream until they expire.

Any token that cannot be read, has no usable ``kid``/``alg``, or fails its checks is ``401 UNAUTHORIZED``;
an unreachable JWK Set is ``503 SERVICE_UNAVAILABLE`` (the caller may retry).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import HTTPConnection

from hub.errors import Forbidden, ServiceUnavailable, Unauthorized
from hub.settings import Settings

ROLES = ("customer", "amk", "admin", "service")
SUBSCRIBER = "subscriber"
_ISSUER = "payhub"
_SUBSCRIBE_AUDIENCE = "payhub:subscribe"
_SERVICE_AUDIENCE = "payhub:service"
# Asymmetric algorithms an identity provider signs with (RFC 7518 §3.1); never "none" or HS* from a JWKS.
JWKS_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
JWKS_TIMEOUT_S = 3.0
# Tokens remembered as verified (least recently used dropped), and for how long at most: a token's
# signature, audience and expiry are checked once per VERIFIED_CACHE_S, never past its ``exp``.
VERIFIED_CACHE_SIZE = 4096
VERIFIED_CACHE_S = 60.0
# Seconds a fetched JWK Set is used before it is fetched again (PyJWT's default).
JWKS_LIFESPAN_S = 300.0
# Seconds after a failed JWK Set fetch before the next one (and the Retry-After of the 503).
JWKS_RETRY_AFTER_S = 5


class JwkSetClient(jwt.PyJWKClient):
    """PyJWT's JWK Set client, with what PayHub needs of it on every request:

    * keys come from the cached JWK Set only, which expires after ``lifespan_s``: a key the provider
      removed (rotated away after a compromise) stops verifying then. PyJWKClient's per-``kid`` cache
      (``cache_keys``) is left off: it keeps a key for the life of the process;
    * every way a fetch can fail (no answer, a reset, an answer that is not a UTF-8 JSON object, JSON
      nested too deep to read) is a :class:`jwt.PyJWKClientConnectionError` (503 to the caller), never a
      stray exception (500);
    * after a failed fetch, fetches are not tried again for ``retry_after_s``: requests waiting for the
      same provider answer 503 at once instead of each waiting out ``timeout_s`` in turn (PyJWKClient
      fetches under one lock).
    """

    def __init__(
        self, uri: str, *, timeout_s: float, lifespan_s: float, retry_after_s: float = JWKS_RETRY_AFTER_S
    ) -> None:
        super().__init__(uri, cache_keys=False, timeout=timeout_s, lifespan=lifespan_s)
        self.retry_after_s = retry_after_s
        self._failed_until = 0.0

    def fetch_data(self) -> Any:
        if time.monotonic() < self._failed_until:
            raise jwt.PyJWKClientConnectionError("JWK Set fetch failed a moment ago; not retried yet")
        try:
            return super().fetch_data()
        except (jwt.PyJWKClientConnectionError, OSError, ValueError, RecursionError) as exc:
            # ValueError: not JSON or not UTF-8; RecursionError: nested too deep; OSError: reset mid-body.
            self._failed_until = time.monotonic() + self.retry_after_s
            raise jwt.PyJWKClientConnectionError(f"JWK Set unavailable ({type(exc).__name__})") from exc


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
    """Mints and verifies PayHub's bearer tokens (see the module docstring for the three kinds).

    ``secret`` signs user tokens (empty in JWKS-only production: user tokens then come from the identity
    provider); ``service_secret`` signs service tokens (defaults to ``secret``); ``audience`` and
    ``issuer``, when set, are required claims of JWKS tokens.
    """

    def __init__(
        self,
        *,
        secret: str,
        subscribe_secret: str,
        service_secret: str = "",
        jwks_url: str = "",
        audience: str = "",
        issuer: str = "",
        jwks_timeout_s: float = JWKS_TIMEOUT_S,
        jwks_lifespan_s: float = JWKS_LIFESPAN_S,
    ) -> None:
        self._secret = secret
        self._subscribe_secret = subscribe_secret
        self._service_secret = service_secret or secret
        self._audience = audience or None
        self._issuer = issuer or None
        self._jwks = JwkSetClient(jwks_url, timeout_s=jwks_timeout_s, lifespan_s=jwks_lifespan_s) if jwks_url else None
        # token -> (principal, time its check lapses): see ``verify``
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def issue(self, sub: str, role: str, ttl_s: int = 3600) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not self._secret:
            raise ValueError("no PAYHUB_JWT_SECRET configured: tokens come from the identity provider")
        now = int(time.time())
        claims = {"sub": sub, "role": role, "iss": _ISSUER, "iat": now, "exp": now + ttl_s}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def issue_service(self, sub: str, ttl_s: int) -> str:
        """A token one PayHub service sends another (role ``service``), signed with the service key."""
        if not self._service_secret:
            raise ValueError("no PAYHUB_SERVICE_TOKEN_SECRET configured")
        now = int(time.time())
        claims = {"sub": sub, "role": "service", "aud": _SERVICE_AUDIENCE, "iss": _ISSUER, "iat": now}
        return jwt.encode({**claims, "exp": now + ttl_s}, self._service_secret, algorithm="HS256")

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
        """Any valid token: a user, service or subscribe token.

        Raises :class:`Unauthorized` (401) for every token that does not pass, whatever its header or
        claims hold, and :class:`ServiceUnavailable` (503) when the identity provider's JWK Set cannot
        be fetched.

        A token checked with PayHub's own keys (HS256) that passed is remembered (the last
        :data:`VERIFIED_CACHE_SIZE`) until its ``exp``, at most :data:`VERIFIED_CACHE_S` seconds: a bank
        sending thousands of notices with one token has it decoded and its signature checked once, not
        per notice (profiles of the webhook path put three base64/JSON decodes and an HMAC per request
        among its costs: docs/perf/webhooks.md). Identity-provider (JWKS) tokens are checked every time.
        """
        now = time.time()
        remembered = self._verified.get(token)
        if remembered is not None:
            if now < remembered[1]:
                return remembered[0]
            del self._verified[token]
        principal, expires = await self._verify(token)
        if expires <= 0:  # checked against the identity provider's keys: see _verify
            return principal
        self._verified[token] = (principal, min(expires, now + VERIFIED_CACHE_S))
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        """``verify`` without the memory: the principal and the token's ``exp``, or 0 for a token of the
        identity provider (JWKS), which is never remembered: a key the provider withdraws must stop
        being trusted as soon as the cached key set expires, whatever was checked with it before."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed bearer token") from exc
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise Unauthorized("Token algorithm not accepted")
        audience = unverified.get("aud")
        if audience == _SUBSCRIBE_AUDIENCE:
            claims = self._decode(token, self._subscribe_secret, ["HS256"], audience=_SUBSCRIBE_AUDIENCE)
            try:
                return Principal(str(claims["sub"]), SUBSCRIBER, int(claims["pid"])), float(claims["exp"])
            except (KeyError, TypeError, ValueError) as exc:
                raise Unauthorized("Subscribe token without a payment") from exc
        if audience == _SERVICE_AUDIENCE:
            claims = self._decode(token, self._service_secret, ["HS256"], audience=_SERVICE_AUDIENCE)
            if claims.get("role") != "service":
                raise Unauthorized("Service token without the service role")
            return Principal(str(claims["sub"]), "service"), float(claims["exp"])
        remember = True
        if self._jwks is not None and alg in JWKS_ALGORITHMS:
            key = await self._jwks_key(token)
            claims = self._decode(token, key, [alg], audience=self._audience, issuer=self._issuer)
            remember = False
        elif self._secret and alg == "HS256":
            claims = self._decode(token, self._secret, ["HS256"])
        else:
            raise Unauthorized("Token algorithm not accepted")
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthorized("Token has no PayHub role")
        return Principal(str(claims.get("sub", "")), str(role)), float(claims["exp"]) if remember else 0.0

    async def _jwks_key(self, token: str) -> jwt.PyJWK:
        assert self._jwks is not None
        try:
            # PyJWKClient fetches with blocking urllib (bounded by JWKS_TIMEOUT_S): keep it off the loop.
            return await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError) as exc:
            # PyJWKSetError: the provider answered with no usable key, so no token can be checked now.
            raise ServiceUnavailable("Identity provider keys unavailable", retry_after=JWKS_RETRY_AFTER_S) from exc
        except jwt.PyJWTError as exc:  # no kid, unknown kid, unusable key
            raise Unauthorized("Token signing key not found") from exc

    @staticmethod
    def _decode(
        token: str,
        key: Any,
        algorithms: list[str],
        audience: str | None = None,
        issuer: str | None = None,
    ) -> dict[str, Any]:
        required = ["exp", "sub", *(["aud"] if audience else []), *(["iss"] if issuer else [])]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=audience,
                issuer=issuer,
                # Without a configured audience, a provider's `aud` (most send one) is not ours to judge.
                options={"require": required, "verify_aud": audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid bearer token") from exc
        return claims


def bearer(conn: HTTPConnection, *, query: bool = True) -> str | None:
    """The token from ``Authorization: Bearer …`` or, for EventSource, ``?token=`` (unless ``query``
    is False: routes whose token must never reach a URL, an access log or a ``Referer``, which is every
    operator (admin) and service route and ``/metrics``; the ``?token=`` routes declare ``tokenQuery``
    in their OpenAPI security)."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return (conn.query_params.get("token") or None) if query else None


async def authenticate(conn: HTTPConnection, auth: Authenticator, *roles: str, query: bool = True) -> Principal:
    """The caller's principal, required to hold one of ``roles`` (if given). Raises Unauthorized
    (no token, or a bad one) or Forbidden (another role). ``query``: see ``bearer``."""
    token = bearer(conn, query=query)
    if token is None:
        raise Unauthorized("Missing bearer token")
    principal = await auth.verify(token)
    return principal.require(*roles) if roles else principal


def authenticator(settings: Settings) -> Authenticator:
    """The authenticator the settings describe (the one place that unwraps the token keys)."""
    return Authenticator(
        secret=settings.jwt_secret.get_secret_value(),
        subscribe_secret=settings.subscribe_secret.get_secret_value(),
        service_secret=settings.service_token_secret.get_secret_value(),
        jwks_url=settings.jwt_jwks_url,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
