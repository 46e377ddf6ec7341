"""The back office's admin API for reviews and look-ups (served by the gateway process).

Every route takes an admin bearer token and answers in the contract's envelope.

- ``GET  /admin/reviews`` — filters of ``backoffice.filters.ReviewFilter``; ``data`` is the list of
  reviews, newest first (``Review.as_json``). A full page carries ``Link: <…&before=ID>; rel="next"``
  (RFC 8288).
- ``GET  /admin/reviews/{id}`` — the review, its history and its payment's case file.
- ``POST /admin/reviews/{id}/resolve`` ``{"outcome", "note"}``, ``/escalate`` and ``/reopen``
  ``{"note"}`` — ``data: {review, event}``; a move the review's state does not allow is
  409 BAD_REQUEST and changes nothing. The actor is the token's subject.
- ``GET  /admin/payments`` — filters of ``backoffice.filters.PaymentFilter``, same paging.
- ``GET  /admin/payments/{id}`` — a payment's case file.
- ``GET  /admin/premiums/{id}/attempts`` — a premium's whole history of attempts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from backoffice.filters import NoteBody, PaymentFilter, ResolveBody, ReviewFilter, query_dict, validate
from backoffice.lookups import Lookups
from backoffice.review_schemas import (
    Attempts,
    CaseFile,
    LookupPaymentPath,
    Moved,
    NoteIn,
    PaymentRow,
    PaymentsQuery,
    PremiumPath,
    ResolveIn,
    Review,
    ReviewFile,
    ReviewPath,
    ReviewsQuery,
)
from backoffice.reviews import ReviewDesk
from hub.apidoc.declare import Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.domain.reviews import ReviewAction
from hub.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import ok
from hub.http.path import path_id

MAX_BODY_BYTES = 16 * 1024
_MULTI = ("state", "kind", "outcome", "status")


@dataclass
class BackofficeDeps:
    auth: Authenticator
    desk: ReviewDesk
    lookups: Lookups


def _query(request: Request) -> dict[str, Any]:
    return query_dict(list(request.query_params.multi_items()), _MULTI)


def _next_link(request: Request, last_id: int) -> dict[str, str]:
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "before"]
    return {"Link": f'<{request.url.path}?{urlencode([*items, ("before", str(last_id))])}>; rel="next"'}


def _page(request: Request, rows: list[Any], limit: int, id_of: Callable[[Any], int]) -> dict[str, str] | None:
    """The ``Link`` header when more rows follow this page (``rows`` holds one more than ``limit`` then)."""
    return _next_link(request, id_of(rows[limit - 1])) if len(rows) > limit else None


_ADMIN = roles("admin")
_AUTH = (Unauthorized, Forbidden, ServiceUnavailable)
_NEXT = {"Link": 'RFC 8288 `<…&before=ID>; rel="next"` when a full page was answered.'}


def _move(name: str, summary: str, body: type[NoteIn]) -> Operation:
    return Operation(
        "POST",
        f"/admin/reviews/{{review_id}}/{name}",
        summary,
        "operators",
        (Reply(model=Moved),),
        description="A move the review's state does not allow is 409 and changes nothing; the actor is the token's "
        "subject.",
        security=_ADMIN,
        path_params=ReviewPath,
        body=body,
        body_example={"outcome": "accepted", "note": "bank confirmed"} if body is ResolveIn else {"note": "why"},
        errors=(BadRequest, NotFound, Conflict, *_AUTH),
    )


def _listing(path: str, summary: str, model: type[BaseModel], query: type[BaseModel]) -> Operation:
    return Operation(
        "GET",
        path,
        summary,
        "operators",
        (Reply(model=model, many=True, headers=_NEXT),),
        security=_ADMIN,
        query=query,
        errors=(BadRequest, *_AUTH),
    )


def _one(path: str, summary: str, model: type[BaseModel], path_params: type[BaseModel]) -> Operation:
    return Operation(
        "GET",
        path,
        summary,
        "operators",
        (Reply(model=model),),
        security=_ADMIN,
        path_params=path_params,
        errors=(NotFound, *_AUTH),
    )


# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    _listing("/admin/reviews", "Reviews (flagged notices and payments), newest first", Review, ReviewsQuery),
    _one("/admin/reviews/{review_id}", "A review, its history and its payment's case file", ReviewFile, ReviewPath),
    _move("resolve", "Resolve a review with an outcome", ResolveIn),
    _move("escalate", "Escalate a review", NoteIn),
    _move("reopen", "Reopen a resolved or escalated review", NoteIn),
    _listing(
        "/admin/payments", "Find payments (transaction id, policy, payer, status, time)", PaymentRow, PaymentsQuery
    ),
    _one("/admin/payments/{payment_id}", "A payment's case file", CaseFile, LookupPaymentPath),
    _one("/admin/premiums/{premium_id}/attempts", "A premium's whole history of attempts", Attempts, PremiumPath),
)


Handler = Callable[[Request], Awaitable[Response]]


def routes(d: BackofficeDeps) -> list[BaseRoute]:
    def listing(
        model: type[ReviewFilter] | type[PaymentFilter],
        find: Callable[[Any], Awaitable[list[Any]]],
        id_of: Callable[[Any], int],
        as_json: Callable[[Any], Any] = lambda row: row,
    ) -> Handler:
        """A filtered list, newest first: ``model``'s query, one row more than the page asked for to
        tell whether a next page follows (then the ``Link`` header)."""

        async def handle(request: Request) -> Response:
            await authenticate(request, d.auth, "admin", query=False)
            query = validate(model, _query(request), "query").query()
            found = await find(replace(query, limit=query.limit + 1))
            headers = _page(request, found, query.limit, id_of)
            return ok([as_json(row) for row in found[: query.limit]], headers=headers)

        return handle

    def one(param: str, fetch: Callable[[int], Awaitable[Any]]) -> Handler:
        """What ``fetch`` answers for the id in path parameter ``param``."""

        async def handle(request: Request) -> Response:
            await authenticate(request, d.auth, "admin", query=False)
            return ok(await fetch(path_id(request, param)))

        return handle

    def move(action: ReviewAction) -> Handler:
        async def handle(request: Request) -> Response:
            who = await authenticate(request, d.auth, "admin", query=False)
            review_id = path_id(request, "review_id")
            data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
            if action is ReviewAction.RESOLVE:
                body = validate(ResolveBody, data, "body")
                done = await d.desk.resolve(review_id, body.outcome, body.note, who.sub)
            else:
                note = validate(NoteBody, data, "body").note
                done = await d.desk.act(review_id, action, note, who.sub)
            return ok(done.as_json())

        return handle

    reviews = listing(ReviewFilter, d.desk.find, lambda r: int(r.id), lambda r: r.as_json())
    payments = listing(PaymentFilter, d.lookups.payments, lambda p: int(p["paymentId"]))
    return [
        Route("/admin/reviews", reviews, methods=["GET"]),
        Route("/admin/reviews/{review_id:str}", one("review_id", d.desk.case_file), methods=["GET"]),
        Route("/admin/reviews/{review_id:str}/resolve", move(ReviewAction.RESOLVE), methods=["POST"]),
        Route("/admin/reviews/{review_id:str}/escalate", move(ReviewAction.ESCALATE), methods=["POST"]),
        Route("/admin/reviews/{review_id:str}/reopen", move(ReviewAction.REOPEN), methods=["POST"]),
        Route("/admin/payments", payments, methods=["GET"]),
        Route("/admin/payments/{payment_id:str}", one("payment_id", d.lookups.payment), methods=["GET"]),
        Route("/admin/premiums/{premium_id:str}/attempts", one("premium_id", d.lookups.attempts), methods=["GET"]),
    ]
