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

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from backoffice.filters import NoteBody, PaymentFilter, ResolveBody, ReviewFilter, query_dict, validate
from backoffice.lookups import Lookups
from backoffice.reviews import ReviewDesk
from hub.auth import Authenticator, authenticate
from hub.domain.reviews import ReviewAction
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


def routes(d: BackofficeDeps) -> list[BaseRoute]:
    async def reviews(request: Request) -> Response:
        await authenticate(request, d.auth, "admin")
        query = validate(ReviewFilter, _query(request), "query").query()
        found = await d.desk.find(replace(query, limit=query.limit + 1))
        headers = _page(request, found, query.limit, lambda r: int(r.id))
        return ok([r.as_json() for r in found[: query.limit]], headers=headers)

    async def review(request: Request) -> Response:
        await authenticate(request, d.auth, "admin")
        return ok(await d.desk.case_file(path_id(request, "review_id")))

    def move(action: ReviewAction) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            who = await authenticate(request, d.auth, "admin")
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

    async def payments(request: Request) -> Response:
        await authenticate(request, d.auth, "admin")
        query = validate(PaymentFilter, _query(request), "query").query()
        found = await d.lookups.payments(replace(query, limit=query.limit + 1))
        headers = _page(request, found, query.limit, lambda p: int(p["paymentId"]))
        return ok(found[: query.limit], headers=headers)

    async def payment(request: Request) -> Response:
        await authenticate(request, d.auth, "admin")
        return ok(await d.lookups.payment(path_id(request, "payment_id")))

    async def attempts(request: Request) -> Response:
        await authenticate(request, d.auth, "admin")
        return ok(await d.lookups.attempts(path_id(request, "premium_id")))

    return [
        Route("/admin/reviews", reviews, methods=["GET"]),
        Route("/admin/reviews/{review_id:str}", review, methods=["GET"]),
        Route("/admin/reviews/{review_id:str}/resolve", move(ReviewAction.RESOLVE), methods=["POST"]),
        Route("/admin/reviews/{review_id:str}/escalate", move(ReviewAction.ESCALATE), methods=["POST"]),
        Route("/admin/reviews/{review_id:str}/reopen", move(ReviewAction.REOPEN), methods=["POST"]),
        Route("/admin/payments", payments, methods=["GET"]),
        Route("/admin/payments/{payment_id:str}", payment, methods=["GET"]),
        Route("/admin/premiums/{premium_id:str}/attempts", attempts, methods=["GET"]),
    ]
