"""JWKS mode against a real JWK Set served over HTTP on 127.0.0.1 with real RSA and EC keys (issue 7 §4, §6).

Every token that does not pass is 401 UNAUTHORIZED (never 500), an unreachable JWK Set is 503 with the
envelope, ``aud`` and ``iss`` are checked, and production with only a JWKS URL starts and serves.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.auth import Authenticator
from hub.errors import ServiceUnavailable, Unauthorized
from hub.settings import Settings
from tests.conftest import free_port, running, sqlite_process

AUDIENCE = "payhub-api"
ISSUER = "https://idp.test/"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(algorithm: Any, public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    jwk: dict[str, Any] = algorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": alg}


JWKS = {
    "keys": [
        _jwk(jwt.algorithms.RSAAlgorithm, RSA_KEY.public_key(), "rsa-1", "RS256"),
        _jwk(jwt.algorithms.ECAlgorithm, EC_KEY.public_key(), "ec-1", "ES256"),
    ]
}


class _JwksHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(JWKS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        return None


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "ops", "role": "admin", "aud": AUDIENCE, "iss": ISSUER, "exp": now + 300}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def mint(key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa-1", **changes: Any) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**changes), key, algorithm=alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: Any, payload: Any, signature: bytes = b"sig") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)])


def authenticator(url: str) -> Authenticator:
    return Authenticator(
        secret="", subscribe_secret="s" * 40, service_secret="t" * 40, jwks_url=url, audience=AUDIENCE, issuer=ISSUER
    )


REFUSED = {
    "no kid": lambda: mint(kid=None),
    "unknown kid": lambda: mint(kid="rotated-away"),
    "alg 123": lambda: raw_token({"alg": 123, "kid": "rsa-1", "typ": "JWT"}, claims()),
    "ES256 header on the RSA key": lambda: mint(EC_KEY, "ES256", kid="rsa-1"),
    "RS256 header on the EC key": lambda: raw_token({"alg": "RS256", "kid": "ec-1"}, claims()),
    "signed by another key": lambda: mint(OTHER_RSA_KEY),
    "alg none": lambda: jwt.encode(claims(), None, algorithm="none", headers={"kid": "rsa-1"}),
    "HS256 with the public key (alg confusion)": lambda: raw_token({"alg": "HS256", "kid": "rsa-1"}, claims()),
    "wrong audience": lambda: mint(aud="another-app"),
    "no audience": lambda: mint(aud=None),
    "wrong issuer": lambda: mint(iss="https://evil.test/"),
    "no issuer": lambda: mint(iss=None),
    "expired": lambda: mint(exp=int(time.time()) - 60),
    "no role": lambda: mint(role=None),
    "kid not a string": lambda: raw_token({"alg": "RS256", "kid": 7}, claims()),
    "header not an object": lambda: raw_token(["RS256"], claims()),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_refused_tokens_are_401(jwks_url: str, case: str) -> None:
    with pytest.raises(Unauthorized):
        await authenticator(jwks_url).verify(REFUSED[case]())


async def test_provider_tokens_with_aud_and_iss_pass(jwks_url: str) -> None:
    auth = authenticator(jwks_url)
    assert (await auth.verify(mint())).role == "admin"
    assert (await auth.verify(mint(EC_KEY, "ES256", kid="ec-1", role="customer"))).role == "customer"
    assert (await auth.verify(mint(aud=["other", AUDIENCE]))).sub == "ops"  # aud may be a list (RFC 7519 §4.1.3)


async def test_unreachable_jwks_is_503() -> None:
    auth = authenticator(f"http://127.0.0.1:{free_port()}/jwks.json")
    with pytest.raises(ServiceUnavailable):
        await auth.verify(mint())


async def test_http_answers_carry_the_envelope(jwks_url: str, tmp_path: Path) -> None:
    jwks = {"jwt_jwks_url": jwks_url, "jwt_audience": AUDIENCE, "jwt_issuer": ISSUER}
    async with sqlite_process(tmp_path, **jwks) as (_, client):
        assert (await client.get("/admin/reviews", headers={"Authorization": f"Bearer {mint()}"})).status_code == 200
        for case in ("no kid", "unknown kid", "alg 123", "ES256 header on the RSA key"):
            r = await client.get("/admin/reviews", headers={"Authorization": f"Bearer {REFUSED[case]()}"})
            assert r.status_code == 401, (case, r.text)
            assert r.json()["error"]["code"] == "UNAUTHORIZED"
    unreachable = {**jwks, "jwt_jwks_url": f"http://127.0.0.1:{free_port()}/jwks.json"}
    async with sqlite_process(tmp_path / "down", **unreachable) as (_, client):
        r = await client.get("/admin/reviews", headers={"Authorization": f"Bearer {mint()}"})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "jku", "x5u", "crit", "b64", "zip"]) | st.text(max_size=4),
        _json | st.sampled_from(["RS256", "ES256", "PS256", "HS256", "none", "rsa-1", "ec-1"]),
        max_size=5,
    ),
    payload=st.one_of(_json, st.just(claims())),
    signature=st.binary(max_size=80),
)
def test_arbitrary_headers_are_401_never_500(
    jwks_url: str, header: dict[str, Any], payload: Any, signature: bytes
) -> None:
    auth = authenticator(jwks_url)
    with pytest.raises(Unauthorized):
        asyncio.run(auth.verify(raw_token(header, payload, signature)))


async def test_production_with_only_a_jwks_url_starts_and_serves(jwks_url: str, tmp_path: Path) -> None:
    strong = "Zq8#vR2!mK5@wX9$pL3%tN7^yB1&cF4*"
    settings = Settings.from_env(
        {
            "PAYHUB_MODE": "production",
            "PAYHUB_DATABASE_URL": f"sqlite:///{tmp_path}/prod.db",
            "PAYHUB_JWT_JWKS_URL": jwks_url,
            "PAYHUB_JWT_AUDIENCE": AUDIENCE,
            "PAYHUB_JWT_ISSUER": ISSUER,
            "PAYHUB_SUBSCRIBE_SECRET": strong + "-subscribe",
            "PAYHUB_SERVICE_TOKEN_SECRET": strong + "-service",
            "PAYHUB_AMK_WEBHOOK_SECRET": strong + "-webhook",
            "PAYHUB_AMK_BASE_URL": "http://127.0.0.1:9/amk",
            "PAYHUB_AMK_VERIFY_URL": "http://127.0.0.1:9/amk/verify",
            "PAYHUB_AMK_SECRET_KEY": strong + "-verify",
            "PAYHUB_AMK_MERCHANT_ID": "123456789012345",
            "PAYHUB_AMK_STORE_ID": "123456789012346",
            "PAYHUB_AMK_TERMINAL_ID": "12345678",
            "PAYHUB_AMK_USERNAME": "insurer-partner",
            "PAYHUB_AMK_PASSWORD": "Pw-4-the-bank!",
        }
    )
    async with running(settings) as c:  # used to die here: HS256 service tokens with no key
        app = c.app
        await c.premiums.seed_demo()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            token = mint(role="customer", sub="customer-1")
            r = await client.get(
                "/AMK/payments", params={"query": "P123456789"}, headers={"Authorization": f"Bearer {token}"}
            )
            # the gateway asked the integration service with its service token, and got the premium
            assert r.status_code == 200, r.text
            assert r.json()["data"]["policyNumber"] == "P123456789"


class _BrokenProvider(BaseHTTPRequestHandler):
    """A JWK Set endpoint whose answer the test chooses: ``server.answer`` is a mode or a JWK Set."""

    def do_GET(self) -> None:
        answer = self.server.answer  # type: ignore[attr-defined]
        if answer == "reset":  # headers promise 1000 bytes, then the connection is reset mid-body
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"keys": [')
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        bodies = {
            "html": b"<html><body>502 Bad Gateway</body></html>",
            "not utf-8": b'{"keys": "\xff\xfe"}',
            "nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
            "truncated json": b'{"keys": [{"kty": "RSA"',
        }
        body = bodies[answer] if isinstance(answer, str) else json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def provider() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenProvider)
    server.answer = JWKS  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


@pytest.mark.parametrize("answer", ["html", "not utf-8", "nested 100000 deep", "truncated json", "reset"])
async def test_an_unreadable_jwk_set_is_503_never_500(provider: ThreadingHTTPServer, answer: str) -> None:
    provider.answer = answer  # type: ignore[attr-defined]
    with pytest.raises(ServiceUnavailable):
        await authenticator(_url(provider)).verify(mint())


async def test_a_key_the_provider_removed_is_no_longer_trusted(provider: ThreadingHTTPServer) -> None:
    # Key rotation after a compromise: once the JWK Set no longer lists a key, tokens it signed must fail
    # as soon as the cached set expires, not when the process restarts.
    auth = Authenticator(
        secret="",
        subscribe_secret="s" * 40,
        service_secret="t" * 40,
        jwks_url=_url(provider),
        audience=AUDIENCE,
        issuer=ISSUER,
        jwks_lifespan_s=0.3,
    )
    assert (await auth.verify(mint())).role == "admin"
    provider.answer = {"keys": [JWKS["keys"][1]]}  # type: ignore[attr-defined]  # rsa-1 revoked
    await asyncio.sleep(0.5)
    with pytest.raises(Unauthorized):
        await auth.verify(mint())
    assert (await auth.verify(mint(EC_KEY, "ES256", kid="ec-1"))).role == "admin"


async def test_a_silent_provider_answers_every_waiting_request_503_promptly() -> None:
    # A provider that accepts connections and never answers: each fetch waits for the read timeout, and
    # fetches are serialized; twenty waiting requests must not wait twenty timeouts one after another.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        auth = Authenticator(
            secret="",
            subscribe_secret="s" * 40,
            service_secret="t" * 40,
            jwks_url=f"http://127.0.0.1:{silent.getsockname()[1]}/jwks.json",
            audience=AUDIENCE,
            issuer=ISSUER,
            jwks_timeout_s=0.4,
        )

        async def one() -> float:
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable):
                await auth.verify(mint())
            return time.monotonic() - started

        waits = await asyncio.gather(*(one() for _ in range(20)))
        assert max(waits) < 2.0, sorted(waits)
    finally:
        silent.close()
