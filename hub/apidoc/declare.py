"""The per-route declaration: what the OpenAPI document says about one method of one path.

A service declares its operations next to its routes (``API`` in its ``app.py``); the composition
root hands routes and declarations to :func:`hub.apidoc.openapi.openapi_document`. A declaration is
matched to a route by method and path, the path written as OpenAPI writes it (``/khqr/sessions/{session_id}``
for Starlette's ``/khqr/sessions/{session_id:str}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from hub.errors import PayHubError

# Security schemes (OpenAPI ``components.securitySchemes``), one per kind of credential.
CUSTOMER = "customerBearer"
AMK = "amkBearer"
ADMIN = "adminBearer"
SERVICE = "serviceBearer"
SUBSCRIBE = "subscribeToken"
TOKEN_QUERY = "tokenQuery"
METRICS = "metricsToken"
AMK_TIMESTAMP = "amkTimestamp"
AMK_SIGNATURE = "amkSignature"
SANDBOX_AMK_SESSION = "sandboxAmkSession"

ROLE_SCHEMES = {"customer": CUSTOMER, "amk": AMK, "admin": ADMIN, "service": SERVICE, "subscriber": SUBSCRIBE}


def roles(*names: str) -> tuple[tuple[str, ...], ...]:
    """Security alternatives for ``hub.auth.authenticate(request, auth, *names)``: any one token kind."""
    return tuple((ROLE_SCHEMES[name],) for name in names)


ANY_TOKEN = roles("customer", "amk", "admin", "service", "subscriber")
"""``authenticate(request, auth)`` with no role: any valid token; the route decides what it may see."""


@dataclass(frozen=True)
class Reply:
    """One answer of an operation that is not a PayHub error (those come from ``Operation.errors``).

    ``model`` is the envelope's ``data`` (``envelope=True``, the contract's ``{"success": true, "data": …}``)
    or the whole body (``envelope=False``: the sandbox's AMK-style answers, streams, text); ``schema`` is a
    literal JSON Schema instead of a model (text and HTML bodies). No model and no schema: no body.
    ``many``: the body (or ``data``) is a JSON array of ``model``.
    """

    status: int = 200
    description: str = "OK"
    model: type[BaseModel] | None = None
    many: bool = False
    schema: Mapping[str, Any] | None = None
    media_type: str = "application/json"
    also: tuple[str, ...] = ()  # more media types: the same schema, or a string for text/* (static files, HTML)
    envelope: bool = True
    example: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)  # response header name -> description


@dataclass(frozen=True)
class Operation:
    """One method of one path.

    ``security``: alternatives, each a tuple of scheme names that must all be present (``((AMK,
    AMK_TIMESTAMP, AMK_SIGNATURE),)`` for a webhook); empty: anonymous. ``query``, ``path_params`` and
    ``headers`` are models whose fields are the parameters; ``body`` the request body's model (its JSON
    Schema in validation mode). ``errors`` are the PayHub errors the route may answer, each becoming its
    status with the envelope whose ``error.code`` is one of their codes; every operation also answers
    the errors of :data:`hub.apidoc.openapi.ANY_REQUEST_ERRORS` (sizes, time, internal error).
    """

    method: str
    path: str
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    description: str = ""
    security: tuple[tuple[str, ...], ...] = ()
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_media: str = "application/json"
    body_required: bool = True
    body_example: Any = None
    errors: tuple[type[PayHubError], ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.method.upper(), self.path)

    @property
    def operation_id(self) -> str:
        words = [w for w in self.path.replace("{", "by/").replace("}", "").replace("-", "/").split("/") if w]
        return self.method.lower() + "".join(w[:1].upper() + w[1:] for w in words)
