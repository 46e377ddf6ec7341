"""The blocklist admin API (admin bearer token; the spec's envelope), served by the gateway process.

* ``GET /admin/blocklist[?all=true][&limit=N]``: the active entries, newest first (``all``: every entry
  ever added, expired and removed ones too); ``limit`` 1-1000, default 1000.
* ``GET /admin/blocklist/{id}``: one entry, whatever its state.
* ``POST /admin/blocklist`` ``{"kind", "value", "reason", "expiresAt"?}``: 201 with the entry added
  (``addedBy`` is the token's subject); 400 BAD_REQUEST listing every bad field, nothing added.
* ``DELETE /admin/blocklist/{id}``: 200 with the entry withdrawn (``removedBy`` the token's subject);
  404 when there is no such entry or it was withdrawn already.

An entry is ``{id, kind, value, reason, addedBy, createdAt, expiresAt, removedAt, removedBy, active}``
(see ``hub.domain.blocklist``); what it bars and when is in docs/operations.md "Fraud controls".
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from backoffice.blocklist_schemas import Entry, EntryPath, ListQuery, NewEntry
from hub.apidoc.declare import Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from hub.fraud.blocklist import Blocklist, parse_new_entry
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import ok
from hub.http.path import path_id

MAX_BODY_BYTES = 8 * 1024
MAX_LIMIT = 1000
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass
class BlocklistDeps:
    blocklist: Blocklist
    auth: Authenticator


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in _BOOLEANS:
        raise BadRequest(details=[{"field": name, "message": "true or false"}])
    return _BOOLEANS[raw]


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(MAX_LIMIT))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_LIMIT):
        raise BadRequest(details=[{"field": "limit", "message": f"a whole number from 1 to {MAX_LIMIT}"}])
    return int(raw)


_ADMIN = roles("admin")
_AUTH_ERRORS = (Unauthorized, Forbidden, ServiceUnavailable)

# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    Operation(
        "GET",
        "/admin/blocklist",
        "Blocklist entries, newest first",
        "operators",
        (Reply(model=Entry, many=True),),
        security=_ADMIN,
        query=ListQuery,
        errors=(BadRequest, *_AUTH_ERRORS),
    ),
    Operation(
        "POST",
        "/admin/blocklist",
        "Bar a policy, customer, IP address or device",
        "operators",
        (Reply(201, "Added", Entry),),
        description="400 lists every bad field; nothing is added.",
        security=_ADMIN,
        body=NewEntry,
        body_example={"kind": "policy", "value": "P123456789", "reason": "chargeback fraud ring"},
        errors=(BadRequest, *_AUTH_ERRORS),
    ),
    Operation(
        "GET",
        "/admin/blocklist/{entry_id}",
        "One entry, whatever its state",
        "operators",
        (Reply(model=Entry),),
        security=_ADMIN,
        path_params=EntryPath,
        errors=(NotFound, *_AUTH_ERRORS),
    ),
    Operation(
        "DELETE",
        "/admin/blocklist/{entry_id}",
        "Withdraw an entry (kept for the audit trail)",
        "operators",
        (Reply(model=Entry),),
        security=_ADMIN,
        path_params=EntryPath,
        errors=(NotFound, *_AUTH_ERRORS),
    ),
)


def routes(d: BlocklistDeps) -> list[BaseRoute]:
    blocklist = d.blocklist

    async def listing(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        entries = await blocklist.entries(include_inactive=_flag(request, "all"), limit=_limit(request))
        now = blocklist.now()
        return ok([e.to_json(now) for e in entries])

    async def add(request: Request) -> Response:
        who = await authenticate(request, d.auth, "admin", query=False)
        data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
        entry = await blocklist.add(parse_new_entry(data, blocklist.now()), who.sub)
        return ok(entry.to_json(blocklist.now()), status_code=201)

    async def show(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        entry_id = path_id(request, "entry_id")
        entry = await blocklist.entry(entry_id)
        if entry is None:
            raise NotFound(f"No blocklist entry {entry_id}")
        return ok(entry.to_json(blocklist.now()))

    async def remove(request: Request) -> Response:
        who = await authenticate(request, d.auth, "admin", query=False)
        removed = await blocklist.remove(path_id(request, "entry_id"), who.sub)
        return ok(removed.to_json(blocklist.now()))

    return [
        Route("/admin/blocklist", listing, methods=["GET"]),
        Route("/admin/blocklist", add, methods=["POST"]),
        Route("/admin/blocklist/{entry_id:str}", show, methods=["GET"]),
        Route("/admin/blocklist/{entry_id:str}", remove, methods=["DELETE"]),
    ]
