"""``payhub reviews …``, ``payhub payments …``, ``payhub premiums attempts``: the review queue and the
look-ups from a shell, straight on the database of ``PAYHUB_DATABASE_URL`` (``payhub.cli`` adds them).

    payhub reviews list [--state S] [--kind K] [--outcome O] [--from D] [--to D] [--policy P]
                        [--payment ID] [--limit N] [--before ID] [--json]
    payhub reviews show ID
    payhub reviews resolve ID --outcome accepted|refund_required|dismissed --note TEXT [--by NAME]
    payhub reviews escalate ID --note TEXT [--by NAME]
    payhub reviews reopen ID --note TEXT [--by NAME]
    payhub payments find [--transaction-id X] [--policy P] [--payer NAME] [--status S] [--from D]
                         [--to D] [--limit N] [--before ID] [--json]
    payhub payments show ID
    payhub premiums attempts ID

Filters, bodies and errors are the admin API's (``backoffice.filters``). ``show`` and ``attempts``
print the API's JSON. The actor of a move is ``--by`` (default ``cli:<login name>``).
Exit codes: 0 done, 1 not found or not allowed in the review's state (nothing changed), 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from backoffice.filters import NoteBody, PaymentFilter, ResolveBody, ReviewFilter, validate
from backoffice.lookups import Lookups
from backoffice.reviews import ReviewDesk
from hub import json_codec
from hub.domain.reviews import Review, ReviewAction
from hub.errors import BadRequest, PayHubError
from hub.ports import Store
from hub.settings import Settings
from payhub.backends import open_store

Handler = Callable[[Settings, argparse.Namespace], int]


def add_commands(sub: Any) -> None:
    """Add ``reviews``, ``payments`` and ``premiums`` to the ``payhub`` parser's subcommands."""
    reviews = sub.add_parser("reviews", help="the review queue: list, show, resolve, escalate, reopen")
    rsub = reviews.add_subparsers(dest="action", required=True)
    listing = rsub.add_parser("list", help="reviews, newest first")
    listing.add_argument("--state", action="append", help="OPEN, ESCALATED, RESOLVED (repeatable)")
    listing.add_argument("--kind", action="append", help="double-payment, webhook, … (repeatable)")
    listing.add_argument("--outcome", action="append", help="accepted, refund_required, dismissed")
    listing.add_argument("--policy", help="policy number")
    listing.add_argument("--payment", help="payment id")
    _paging(listing)
    listing.set_defaults(func=_run(_list_reviews))
    show = rsub.add_parser("show", help="a review with its history and everything linked (JSON)")
    show.add_argument("id", type=int)
    show.set_defaults(func=_run(_show_review))
    resolve = rsub.add_parser("resolve", help="OPEN or ESCALATED -> RESOLVED")
    resolve.add_argument("id", type=int)
    resolve.add_argument("--outcome", required=True, help="accepted, refund_required or dismissed")
    _note(resolve)
    resolve.set_defaults(func=_run(_move(ReviewAction.RESOLVE)))
    for action, text in ((ReviewAction.ESCALATE, "OPEN -> ESCALATED"), (ReviewAction.REOPEN, "RESOLVED -> OPEN")):
        p = rsub.add_parser(action.value, help=text)
        p.add_argument("id", type=int)
        _note(p)
        p.set_defaults(func=_run(_move(action)))

    payments = sub.add_parser("payments", help="look payments up")
    psub = payments.add_subparsers(dest="action", required=True)
    find = psub.add_parser("find", help="payments, newest first")
    find.add_argument("--transaction-id", help="AMK's transaction id")
    find.add_argument("--policy", help="policy or application number")
    find.add_argument("--payer", help="start of the payer's name")
    find.add_argument("--status", action="append", help="PENDING, PROCESSING, CONFIRMED, FAILED, EXPIRED")
    _paging(find)
    find.set_defaults(func=_run(_find_payments))
    pshow = psub.add_parser("show", help="a payment's case file (JSON)")
    pshow.add_argument("id", type=int)
    pshow.set_defaults(func=_run(_show_payment))

    premiums = sub.add_parser("premiums", help="premiums")
    msub = premiums.add_subparsers(dest="action", required=True)
    attempts = msub.add_parser("attempts", help="a premium's whole history of attempts (JSON)")
    attempts.add_argument("id", type=int)
    attempts.set_defaults(func=_run(_attempts))


def _paging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_", metavar="FROM", help="YYYY-MM-DD (Asia/Phnom_Penh) or ISO 8601")
    p.add_argument("--to", help="YYYY-MM-DD (that day included) or ISO 8601 (excluded)")
    p.add_argument("--limit", help="1-500 (default 100)")
    p.add_argument("--before", help="an id: the page after the one that ended with it")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _note(p: argparse.ArgumentParser) -> None:
    p.add_argument("--note", required=True, help="why (1-2000 characters)")
    p.add_argument("--by", help="who acts (default cli:<login name>)")


def _given(args: argparse.Namespace, **names: str) -> dict[str, Any]:
    """The options given, under the admin API's query names."""
    out = {name: getattr(args, attr) for name, attr in names.items() if getattr(args, attr, None) is not None}
    if getattr(args, "from_", None) is not None:
        out["from"] = args.from_
    for name in ("to", "limit", "before"):
        if getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    return out


def _run(handler: Callable[[Store, argparse.Namespace], Awaitable[int]]) -> Handler:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        async def go() -> int:
            async with open_store(settings.database_url) as store:
                return await handler(store, args)

        try:
            return asyncio.run(go())
        except BadRequest as exc:
            _print_error(exc)
            return 2
        except PayHubError as exc:
            _print_error(exc)
            return 1
        except BrokenPipeError:  # ``… | head``: the reader has seen enough
            sys.stdout = open(os.devnull, "w")  # the signal module docs' advice for SIGPIPE
            return 0

    return run


def _print_error(exc: PayHubError) -> None:
    print(f"payhub: {exc.message}", file=sys.stderr)
    if isinstance(exc.details, list):
        for d in exc.details:
            print(f"  {d.get('field')}: {d.get('message')}" if isinstance(d, dict) else f"  {d}", file=sys.stderr)
    elif exc.details:
        print(f"  {json_codec.dumps(exc.details)}", file=sys.stderr)


def _print(value: Any) -> None:
    print(json_codec.dumps(value, indent=2))


def _more(rows: list[Any], limit: int, last_id: Callable[[Any], int]) -> list[Any]:
    if len(rows) > limit:
        print(f"more: --before {last_id(rows[limit - 1])}", file=sys.stderr)
    return rows[:limit]


async def _list_reviews(store: Store, args: argparse.Namespace) -> int:
    given = _given(args, state="state", kind="kind", outcome="outcome", policy="policy", payment="payment")
    query = validate(ReviewFilter, given, "options").query()
    found = _more(await ReviewDesk(store).find(replace(query, limit=query.limit + 1)), query.limit, lambda r: r.id)
    if args.json:
        _print([r.as_json() for r in found])
    else:
        for r in found:
            print(_review_line(r))
        print(f"{len(found)} review(s)", file=sys.stderr)
    return 0


def _review_line(r: Review) -> str:
    cols = [
        str(r.id),
        r.state.value,
        r.outcome.value if r.outcome else "-",
        r.kind,
        r.created_at.isoformat(timespec="seconds"),
        f"payment={r.payment_id}" if r.payment_id else "payment=-",
        f"policy={r.policy_number or '-'}",
        r.reason,
    ]
    return "  ".join(cols)


async def _show_review(store: Store, args: argparse.Namespace) -> int:
    _print(await ReviewDesk(store).case_file(args.id))
    return 0


def _actor(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in this environment
        return "cli"


def _move(action: ReviewAction) -> Callable[[Store, argparse.Namespace], Awaitable[int]]:
    async def move(store: Store, args: argparse.Namespace) -> int:
        desk = ReviewDesk(store)
        if action is ReviewAction.RESOLVE:
            body = validate(ResolveBody, {"outcome": args.outcome, "note": args.note}, "options")
            done = await desk.resolve(args.id, body.outcome, body.note, _actor(args))
        else:
            note = validate(NoteBody, {"note": args.note}, "options").note
            done = await desk.act(args.id, action, note, _actor(args))
        e = done.event
        outcome = f" ({e.outcome.value})" if e.outcome else ""
        print(f"review {e.review_id}: {e.from_state} -> {e.to_state}{outcome} by {e.actor}")
        return 0

    return move


async def _find_payments(store: Store, args: argparse.Namespace) -> int:
    given = _given(args, transactionId="transaction_id", policy="policy", payer="payer", status="status")
    query = validate(PaymentFilter, given, "options").query()
    found = _more(
        await Lookups(store).payments(replace(query, limit=query.limit + 1)), query.limit, lambda p: p["paymentId"]
    )
    if args.json:
        _print(found)
    else:
        for p in found:
            cols = [p["paymentId"], p["status"], p["method"] or "-", f"{p['amount']} {p['currency']}"]
            cols += [p["policyNumber"], p["payer"] or "-", p["transactionId"] or "-", p["createdAt"]]
            print("  ".join(str(c) for c in cols))
        print(f"{len(found)} payment(s)", file=sys.stderr)
    return 0


async def _show_payment(store: Store, args: argparse.Namespace) -> int:
    _print(await Lookups(store).payment(args.id))
    return 0


async def _attempts(store: Store, args: argparse.Namespace) -> int:
    _print(await Lookups(store).attempts(args.id))
    return 0
