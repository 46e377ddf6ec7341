"""The OpenAPI 3.1 document of the routes one process serves, built from their declarations.

``openapi_document(routes, operations)`` pairs every Starlette route with its
:class:`~hub.apidoc.declare.Operation` (by method and path) and turns the declared pydantic models into
JSON Schemas (``pydantic.json_schema.models_json_schema``: request bodies in validation mode, replies in
serialization mode) under ``components.schemas``. A route without a declaration raises
:class:`UndeclaredRoute`: the document never leaves out what the process serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from hub.apidoc import declare as d
from hub.apidoc.types import ErrorEnvelope, error_example
from hub.errors import HeadersTooLarge, PayHubError, PayloadTooLarge, RequestTimeout

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
ANY_REQUEST_ERRORS: tuple[type[PayHubError], ...] = (RequestTimeout, PayloadTooLarge, HeadersTooLarge, PayHubError)
"""What any request may be answered, whatever its route: too slow (408), too large (413, 431), or an
internal error (500). Enforced in ``hub.http.limits``, ``hub.http.server`` and ``hub.http.middleware``."""

_CONVERTOR = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z_]+)?}")


class UndeclaredRoute(ValueError):
    """A route is served without an OpenAPI declaration (``keys``: its method and path)."""

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__("routes without an OpenAPI declaration: " + ", ".join(f"{m} {p}" for m, p in keys))
        self.keys = list(keys)


def openapi_path(path: str) -> str:
    """Starlette's ``/a/{id:str}`` as OpenAPI writes it: ``/a/{id}``."""
    return _CONVERTOR.sub(r"{\1}", path)


def route_keys(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, OpenAPI path) of every operation the routes serve; a WebSocket route is its ``GET``
    upgrade request, a mount of static files ``GET <prefix>/{path}``. ``HEAD`` goes with ``GET``."""
    keys: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Route):
            methods = sorted((route.methods or {"GET"}) - {"HEAD"})
            keys += [(m, openapi_path(route.path)) for m in methods]
        elif isinstance(route, WebSocketRoute):
            keys.append(("GET", openapi_path(route.path)))
        elif isinstance(route, Mount):
            keys.append(("GET", openapi_path(route.path) + "/{path}"))
    return list(dict.fromkeys(keys))


def openapi_document(
    routes: Iterable[BaseRoute],
    operations: Iterable[d.Operation],
    *,
    title: str = "PayHub API",
    version: str = "0.1.0",
    description: str = "",
    server_url: str = "/",
) -> dict[str, Any]:
    """The document for ``routes``; raises :class:`UndeclaredRoute` if one has no declaration."""
    declared = {op.key: op for op in operations}
    keys = route_keys(routes)
    missing = [k for k in keys if k not in declared]
    if missing:
        raise UndeclaredRoute(missing)
    chosen = [declared[k] for k in keys]
    schemas, refs = _schemas(chosen)
    paths: dict[str, dict[str, Any]] = {}
    for op in chosen:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    tags = sorted({op.tag for op in chosen})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": server_url}],
        "tags": [{"name": t, "description": TAGS.get(t, "")} for t in tags],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": SECURITY_SCHEMES,
            "headers": {
                "CorrelationId": {
                    "description": "The request's correlation id (the caller's X-Correlation-ID when it is "
                    "1-64 of `A-Za-z0-9._:-`, else a new one); also in every error body.",
                    "required": True,
                    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:\-]{1,64}$"},
                },
                "RetryAfter": {
                    "description": "Seconds to wait before retrying (with 429 and 503 when known).",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
            },
        },
    }


TAGS = {
    "gateway": "Premium inquiry and AMK's webhooks (spec: Bill Payment and KHQR Payment Integration).",
    "khqr": "KHQR codes for customers and the status of a QR session.",
    "push": "Live payment status: SSE, the WebSocket upgrade, one payment's status. The frames are in "
    "the AsyncAPI document (/asyncapi.json).",
    "integration": "The integration service (DLIS/Ingenium premiums), called by the gateway.",
    "sandbox": "The built-in AMK sandbox (sandbox mode only): AMK's partner API and test controls.",
    "operators": "Operators: reviews, metrics, health.",
    "demo": "The checkout demo page and its helpers.",
    "docs": "These documents.",
}

_BEARER_JWT = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    d.CUSTOMER: {
        **_BEARER_JWT,
        "description": "A customer's JWT (role `customer`): HS256 with PAYHUB_JWT_SECRET (sandbox: "
        "`payhub token --sub ID --role customer`), or RS/PS/ES-signed by the identity provider (PAYHUB_JWT_JWKS_URL).",
    },
    d.AMK: {**_BEARER_JWT, "description": "AMK's JWT (role `amk`), as the customer token."},
    d.ADMIN: {**_BEARER_JWT, "description": "An operator's JWT (role `admin`), as the customer token."},
    d.SERVICE: {
        **_BEARER_JWT,
        "description": "A token PayHub's services mint for each other "
        "(aud `payhub:service`, PAYHUB_SERVICE_TOKEN_SECRET).",
    },
    d.SUBSCRIBE: {
        **_BEARER_JWT,
        "description": "A payment's subscribe token (aud `payhub:subscribe`): the `subscribeToken` of the "
        "inquiry or KHQR reply; allows that payment's status and stream only.",
    },
    d.TOKEN_QUERY: {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "A subscriber's bearer token as `?token=`, for browsers' EventSource, which cannot set "
        "headers; the operations that list this scheme read it when no Authorization header is sent. "
        "Operator (admin) and service routes and `/metrics` take their token from the Authorization header "
        "only, and answer 401 to `?token=`.",
    },
    d.METRICS: {
        "type": "http",
        "scheme": "bearer",
        "description": "PAYHUB_METRICS_TOKEN, what Prometheus sends as `authorization: credentials`.",
    },
    d.AMK_TIMESTAMP: {
        "type": "apiKey",
        "in": "header",
        "name": "X-AMK-Timestamp",
        "description": "Unix seconds when AMK signed; within ±300 s of PayHub's clock.",
    },
    d.AMK_SIGNATURE: {
        "type": "apiKey",
        "in": "header",
        "name": "X-AMK-Signature",
        "description": '`v1=<hex HMAC-SHA512(webhook secret, "<timestamp>.<raw body bytes>")>`; several '
        "`v1=` entries separated by commas are allowed (key rotation: any match passes). Checked on the "
        "raw bytes before parsing, in constant time.",
    },
    d.SANDBOX_AMK_SESSION: {
        "type": "http",
        "scheme": "bearer",
        "description": "The `access_token` of the sandbox's `POST /sandbox/amk/auth/sign-in`.",
    },
}


# --- schemas -------------------------------------------------------------------------------------


Refs = dict[tuple[type[BaseModel], str], Any]


def _schemas(ops: Sequence[d.Operation]) -> tuple[dict[str, Any], Refs]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorEnvelope, "serialization")]
    for op in ops:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        wanted += [(r.model, "serialization") for r in op.replies if r.model is not None]
    wanted = list(dict.fromkeys(wanted))
    mapping, top = models_json_schema(wanted, ref_template=REF)
    refs: Refs = {(cast(type[BaseModel], model), mode): schema for (model, mode), schema in mapping.items()}
    return dict(sorted(top.get("$defs", {}).items())), refs


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """A parameters model's schema: only scalar fields, so nothing to reference."""
    schema = model.model_json_schema(ref_template=REF)
    if "$defs" in schema:
        raise ValueError(f"parameter model {model.__name__} must hold scalar fields only")
    return schema


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = _inline(model)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required}
        if "description" in prop:
            param["description"] = prop.pop("description")
        if prop.get("examples"):
            param["example"] = prop["examples"][0]
        if prop.get("contentMediaType") == "application/json" and "contentSchema" in prop:
            # A parameter carrying JSON text (the spec's ``bankCode``): OpenAPI's ``content`` form.
            param.pop("example", None)
            media: dict[str, Any] = {"schema": prop["contentSchema"]}
            if prop["contentSchema"].get("examples"):
                media["example"] = prop["contentSchema"]["examples"][0]
            param["content"] = {"application/json": media}
        else:
            param["schema"] = prop
        params.append(param)
    return params


# --- one operation ---------------------------------------------------------------------------------


def _operation(op: d.Operation, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    params = _parameters(op.path_params, "path") + _parameters(op.query, "query") + _parameters(op.headers, "header")
    if params:
        out["parameters"] = params
    if op.body is not None:
        media: dict[str, Any] = {"schema": refs[(op.body, "validation")]}
        if op.body_example is not None:
            media["example"] = op.body_example
        out["requestBody"] = {"required": op.body_required, "content": {op.body_media: media}}
    out["responses"] = _responses(op, refs)
    if op.security:
        out["security"] = [{name: [] for name in alternative} for alternative in op.security]
    return out


def _responses(op: d.Operation, refs: Refs) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for reply in op.replies:
        responses[str(reply.status)] = _reply(reply, refs)
    by_status: dict[int, list[type[PayHubError]]] = {}
    for err in (*op.errors, *ANY_REQUEST_ERRORS):
        by_status.setdefault(err.status_code, []).append(err)
    for status, errors in sorted(by_status.items()):
        error = _error_response(errors)
        if str(status) in responses:  # the sandbox's AMK-style refusals share statuses with the envelope
            responses[str(status)] = _either(responses[str(status)], error)
        else:
            responses[str(status)] = error
    return dict(sorted(responses.items()))


def _headers(extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Correlation-ID": {"$ref": "#/components/headers/CorrelationId"}}
    for name, text in (extra or {}).items():
        headers[name] = {"description": text, "schema": {"type": "string"}}
    return headers


def _reply(reply: d.Reply, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description, "headers": _headers(dict(reply.headers))}
    schema: dict[str, Any] | None = None
    if reply.model is not None:
        schema = refs[(reply.model, "serialization")]
        if reply.many:
            schema = {"type": "array", "items": schema}
    elif reply.schema is not None:
        schema = dict(reply.schema)
    if schema is None:
        return out
    example = reply.example
    if reply.envelope:
        schema = {
            "type": "object",
            "required": ["success", "data"],
            "properties": {"success": {"const": True}, "data": schema},
            "additionalProperties": False,
        }
        if example is not None:
            example = {"success": True, "data": example}
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    out["content"] = {reply.media_type: media}
    for kind in reply.also:  # a text alternative (an HTML page of the same records) is a string
        out["content"][kind] = {"schema": {"type": "string"}} if kind.startswith("text/") else media
    return out


def _error_response(errors: list[type[PayHubError]]) -> dict[str, Any]:
    codes = list(dict.fromkeys(e.code for e in errors))
    messages = {e.code: e.default_message for e in reversed(errors)}  # the first class listed wins
    schema = {
        "allOf": [{"$ref": REF.format(model="ErrorEnvelope")}],
        "properties": {"error": {"properties": {"code": {"enum": codes}}}},
    }
    examples = {
        code: {"summary": code, "value": error_example(code, messages[code], retry_after=_retry(errors, code))}
        for code in codes
    }
    text = "; ".join(f"{code}: {messages[code]}" for code in codes)
    return {
        "description": text,
        "headers": {**_headers(), "Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
        "content": {"application/json": {"schema": schema, "examples": examples}},
    }


def _retry(errors: list[type[PayHubError]], code: str) -> int | None:
    return 30 if any(e.retriable and e.code == code for e in errors) else None


def _either(reply: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """One status answered two ways (an AMK-style body, or PayHub's envelope for what failed before)."""
    merged: dict[str, Any] = {"description": f"{reply['description']}; or the envelope: {error['description']}"}
    merged["headers"] = {**reply.get("headers", {}), **error["headers"]}
    content = dict(reply.get("content", {}))
    mine = content.get("application/json")
    theirs = error["content"]["application/json"]
    if mine is None:
        content["application/json"] = theirs
    else:
        content["application/json"] = {"schema": {"oneOf": [mine["schema"], theirs["schema"]]}}
    merged["content"] = content
    return merged
