"""The OpenAPI and AsyncAPI documents: complete, valid by their official validators, examples that hold.

* every route of every service (the superset ``payhub run`` serves in sandbox mode) has exactly one
  declaration, and every declaration has a route;
* OpenAPI: ``openapi-spec-validator``; AsyncAPI: the official ``@asyncapi/parser`` (Node.js, pinned by
  tests/asyncapi_parser/package-lock.json, installed by ``make asyncapi-parser``). Without Node.js or the
  parser the AsyncAPI check skips, except under ``CI=true`` where it fails;
* every example in either document validates against the schema beside it (jsonschema);
* every declared error class appears with its status and code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.routing import Route

from hub.apidoc.asyncapi import asyncapi_document
from hub.apidoc.openapi import UndeclaredRoute, openapi_document, route_keys
from hub.apidoc.page import render_page
from hub.settings import Settings
from hub.topics import Topics
from payhub.api_docs import operations
from payhub.app import create_app
from tests.integration.test_production_surface import production

ROOT = Path(__file__).resolve().parents[2]
PARSER_DIR = ROOT / "tests" / "asyncapi_parser"
IN_CI = os.environ.get("CI") == "true"


def _app(tmp: Path, **env: str) -> Any:
    settings = Settings.from_env({"PAYHUB_DATABASE_URL": f"sqlite:///{tmp}/x.db", **env})
    return create_app(settings, background=False)


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    routes: list[Any] = _app(tmp_path_factory.mktemp("app")).router.routes
    return routes


@pytest.fixture(scope="module")
def openapi(app_routes: list[Any]) -> dict[str, Any]:
    return openapi_document(app_routes, operations())


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return asyncapi_document(topics=Topics("dev."))


def test_every_route_has_a_declaration_and_every_declaration_a_route(app_routes: list[Any]) -> None:
    served = set(route_keys(app_routes))
    declared = [op.key for op in operations()]
    assert len(declared) == len(set(declared)), "a route is declared twice"
    assert not served - set(declared), f"routes without a declaration: {sorted(served - set(declared))}"
    assert not set(declared) - served, f"declarations without a route: {sorted(set(declared) - served)}"


def test_a_route_without_a_declaration_is_refused(app_routes: list[Any]) -> None:
    async def endpoint(request: Any) -> Any:
        raise AssertionError

    with pytest.raises(UndeclaredRoute) as refused:
        openapi_document([*app_routes, Route("/new/{thing_id:int}", endpoint, methods=["PUT"])], operations())
    assert refused.value.keys == [("PUT", "/new/{thing_id}")]


def test_production_documents_only_what_it_serves(tmp_path: Path) -> None:
    """A process documents its own routes: production mode has no sandbox, one service only its own."""
    settings = production(tmp_path)
    doc = openapi_document(create_app(settings, background=False).router.routes, operations())
    assert not [p for p in doc["paths"] if p.startswith("/sandbox/")]
    assert "/AMK/payments" in doc["paths"]
    gateway_only = create_app(settings, services=["gateway"], background=False)
    paths = set(openapi_document(gateway_only.router.routes, operations())["paths"])
    assert "/khqr" not in paths and "/ws/payments" not in paths and "/AMK/khqr" in paths


def test_openapi_is_valid(openapi: dict[str, Any]) -> None:
    errors = [str(e.message) for e in OpenAPIV31SpecValidator(openapi).iter_errors()]
    assert not errors
    assert openapi["openapi"] == "3.1.0"


def _resolver_schema(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the document's components beside it, so that its local ``$ref``s resolve."""
    return {**schema, "components": doc["components"]}


def _validate(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    errors = [e.message for e in Draft202012Validator(_resolver_schema(doc, schema)).iter_errors(value)]
    assert not errors, f"{where}: {errors}"


def _openapi_examples(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                if "example" in param:
                    yield f"{where} {param['name']}", param["schema"], param["example"]
            for media in op.get("requestBody", {}).get("content", {}).values():
                if "example" in media:
                    yield f"{where} body", media["schema"], media["example"]
            for status, reply in op["responses"].items():
                for media in reply.get("content", {}).values():
                    if "example" in media:
                        yield f"{where} {status}", media["schema"], media["example"]
                    for name, example in media.get("examples", {}).items():
                        yield f"{where} {status} {name}", media["schema"], example["value"]


def test_every_openapi_example_fits_its_schema(openapi: dict[str, Any]) -> None:
    examples = list(_openapi_examples(openapi))
    assert len(examples) > 100
    for where, schema, value in examples:
        _validate(openapi, schema, value, where)


def test_every_declared_error_is_documented_with_its_status_and_code(openapi: dict[str, Any]) -> None:
    for op in operations():
        responses = openapi["paths"][op.path][op.method.lower()]["responses"]
        for error in op.errors:
            reply = responses[str(error.status_code)]
            schema = json.dumps(reply["content"]["application/json"]["schema"])
            assert f'"{error.code}"' in schema, f"{op.method} {op.path}: {error.__name__} ({error.code})"
        assert {"408", "413", "431", "500"} <= set(responses)


def test_webhooks_need_the_amk_token_and_both_signature_headers(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    for path in ("/AMK/payments", "/AMK/khqr"):
        (requirement,) = openapi["paths"][path]["post"]["security"]
        headers = {schemes[name].get("name") for name in requirement}
        assert {"X-AMK-Timestamp", "X-AMK-Signature"} <= headers
        assert any(schemes[name].get("scheme") == "bearer" for name in requirement)


def _run_parser(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    installed = (PARSER_DIR / "node_modules" / "@asyncapi" / "parser").is_dir()
    if node is None or not installed:
        missing = "node" if node is None else "the AsyncAPI parser (make asyncapi-parser)"
        if IN_CI:
            pytest.fail(f"{missing} not installed (CI=true: not skipping)")
        pytest.skip(f"{missing} not installed")
    done = subprocess.run(
        [node, str(PARSER_DIR / "validate.js")],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_asyncapi_is_valid_for_the_official_parser(asyncapi: dict[str, Any]) -> None:
    """The parser can fail too: the same document with a channel pointing at a server that does not exist."""
    broken = json.loads(json.dumps(asyncapi))
    broken["channels"]["paymentEvents"]["servers"] = [{"$ref": "#/servers/nowhere"}]
    result, refused = _run_parser([asyncapi, broken])
    problems = [d for d in result["diagnostics"] if d["severity"] <= 1]  # errors and warnings
    assert result["valid"] and result["version"] == "3.0.0", problems
    assert not problems
    assert not refused["valid"]


def test_every_asyncapi_example_fits_its_payload(asyncapi: dict[str, Any]) -> None:
    messages = asyncapi["components"]["messages"]
    checked = 0
    for name, message in messages.items():
        for example in message.get("examples", []):
            _validate(asyncapi, message["payload"], example["payload"], name)
            checked += 1
    assert checked >= 10


def test_asyncapi_names_every_topic_with_the_prefix(asyncapi: dict[str, Any]) -> None:
    addresses = {c["address"] for c in asyncapi["channels"].values()}
    assert set(Topics("dev.").all()) <= addresses
    assert "/ws/payments" in addresses and "/api/payments/{paymentId}/events" in addresses
    ws = asyncapi["channels"]["paymentsSocket"]["messages"]
    assert {
        "subscribe",
        "unsubscribe",
        "ping",
        "paymentStatus",
        "subscribed",
        "unsubscribed",
        "completed",
        "pong",
        "error",
    } == set(ws)


def test_the_page_shows_every_operation_and_channel_escaped(openapi: dict[str, Any], asyncapi: dict[str, Any]) -> None:
    hostile = json.loads(json.dumps(openapi))
    hostile["info"]["description"] = "<script>alert(1)</script> `code`"
    html = render_page(hostile, asyncapi)
    assert "<script>" not in html and "&lt;script&gt;" in html and "<code>code</code>" in html
    for path, methods in openapi["paths"].items():
        for method in methods:
            assert f">{method.upper()}</span><code>{path}</code>" in html
    for channel in asyncapi["channels"].values():
        assert f"<code>{channel['address']}</code>" in html
    for name in openapi["components"]["schemas"]:
        assert f"id='o-schema-{name}'" in html
