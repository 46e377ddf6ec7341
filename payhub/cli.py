"""The ``payhub`` command: run, serve, relay, feeder, dlq, notifications, migrate, token, policies import, reconcile,
blocklist, reset (sandbox demo data); the back office's reviews, payments and premiums commands live in
``payhub/cli_backoffice.py``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from hub import json_codec, logs
from hub.auth import ROLES
from hub.errors import ConfigError, PayHubError
from hub.settings import Settings

_T = TypeVar("_T")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print("payhub: invalid settings:", file=sys.stderr)
        for problem in exc.details or []:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    try:
        result: int = args.func(settings, args)
        return result
    except PayHubError as exc:
        print(f"payhub: {exc.message}" + (f" ({exc.details})" if exc.details else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payhub", description="PayHub payment-status hub")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="everything in one process (embedded defaults)")
    run.add_argument("--port", type=int, default=None, help="overrides PAYHUB_PORT")
    run.add_argument(
        "--fresh-demo", action="store_true", help="sandbox: restore the demo data first (as `payhub reset`)"
    )
    run.set_defaults(func=_run)

    reset = sub.add_parser("reset", help="sandbox: drop PayHub's data and restore the demo premiums")
    reset.set_defaults(func=_reset)

    serve = sub.add_parser("serve", help="one service of the production topology")
    serve.add_argument("service", choices=("gateway", "khqr", "push", "integration", "sandbox", "notifier"))
    serve.add_argument("--port", type=int, required=True)
    serve.set_defaults(func=_serve)

    relay = sub.add_parser("relay", help="publish the event log (outbox) to Kafka")
    relay.add_argument("--port", type=int, default=None, help="/metrics, /healthz, /readyz port (default 9101)")
    relay.set_defaults(func=_worker("relay"))

    feeder = sub.add_parser("feeder", help="Kafka status topic to Redis, for the push nodes")
    feeder.add_argument("--port", type=int, default=None, help="/metrics, /healthz, /readyz port (default 9102)")
    feeder.set_defaults(func=_worker("feeder"))

    dlq = sub.add_parser("dlq", help="dead-letter topics: list or replay poison messages")
    dsub = dlq.add_subparsers(dest="action", required=True)
    dlist = dsub.add_parser("list", help="show dead letters with their reason")
    dlist.add_argument("--topic", default="payhub.payment-status", help="source topic (without prefix)")
    dlist.add_argument("--limit", type=int, default=100)
    dlist.set_defaults(func=_dlq_list)
    dreplay = dsub.add_parser("replay", help="send dead letters back to their topic")
    dreplay.add_argument("--topic", default="payhub.payment-status", help="source topic (without prefix)")
    dreplay.set_defaults(func=_dlq_replay)

    notes = sub.add_parser("notifications", help="customer and partner notifications: list, retry dead letters")
    nsub = notes.add_subparsers(dest="action", required=True)
    nlist = nsub.add_parser("list", help="notifications in a state (DEAD by default), newest first, one JSON a line")
    nlist.add_argument("--state", default="DEAD", help="PENDING, SENT, FAILED, DEAD, CANCELLED (comma-separated)")
    nlist.add_argument("--payment", type=_row_id, default=None, help="only this payment's (any state)")
    nlist.add_argument("--limit", type=_count, default=100, help="at most this many (1 to 100000)")
    nlist.set_defaults(func=_notifications_list)
    nretry = nsub.add_parser("retry", help="send DEAD notifications again (their ids, or --all)")
    nretry.add_argument("ids", type=_row_id, nargs="*")
    nretry.add_argument("--all", action="store_true", help="every DEAD notification")
    nretry.set_defaults(func=_notifications_retry)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=_migrate)

    token = sub.add_parser("token", help="print a bearer token (last line)")
    token.add_argument("--sub", required=True)
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token.set_defaults(func=_token)

    reconcile = sub.add_parser("reconcile", help="reconcile a day with AMK (statement + payment-verify)")
    reconcile.add_argument("--date", type=_day, default=None, help="the day, YYYY-MM-DD (Asia/Phnom_Penh)")
    reconcile.add_argument(
        "--statement", type=Path, default=None, help="import AMK's statement CSV, then reconcile its day"
    )
    reconcile.set_defaults(func=_reconcile)

    policies = sub.add_parser("policies", help="policy and premium data")
    psub = policies.add_subparsers(dest="action", required=True)
    imp = psub.add_parser("import", help="import premiums from CSV: all rows or none")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=_import)

    blocklist = sub.add_parser("blocklist", help="the fraud blocklist: list, add or remove entries")
    bsub = blocklist.add_subparsers(dest="action", required=True)
    blist = bsub.add_parser("list", help="active entries, newest first, one JSON object a line")
    blist.add_argument("--all", action="store_true", help="also expired and removed entries")
    blist.add_argument("--limit", type=int, default=1000)
    blist.set_defaults(func=_blocklist_list)
    badd = bsub.add_parser("add", help="bar a policy, customer, IP (or CIDR) or device")
    badd.add_argument("--kind", required=True, choices=("policy", "customer", "ip", "device"))
    badd.add_argument("--value", required=True)
    badd.add_argument("--reason", required=True)
    expiry = badd.add_mutually_exclusive_group()
    expiry.add_argument("--expires", help="ISO 8601 date-time with a time zone (default: until removed)")
    expiry.add_argument("--ttl", type=int, help="seconds from now until the entry expires")
    badd.add_argument("--by", default=None, help="who adds it (default: $USER)")
    badd.set_defaults(func=_blocklist_add)
    bremove = bsub.add_parser("remove", help="withdraw an entry by id")
    bremove.add_argument("id", type=int)
    bremove.add_argument("--by", default=None, help="who removes it (default: $USER)")
    bremove.set_defaults(func=_blocklist_remove)

    from payhub.cli_backoffice import add_commands

    add_commands(sub)
    return parser


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.port:
        settings = Settings.from_env(port=args.port)
    if args.fresh_demo:
        from payhub.demo import port_free

        # Checked before anything is dropped: a reset for a server that then cannot listen helps nobody,
        # and a PayHub already on this port holds the database.
        if not port_free(settings, settings.port):
            print(f"payhub: port {settings.port} is in use (another payhub run?): nothing reset", file=sys.stderr)
            return 1
        code = _restore_demo(settings)
        if code:
            return code
    return _serve_services(settings, None, settings.port, banner=True)


def _reset(settings: Settings, args: argparse.Namespace) -> int:
    from payhub.demo import local_host, payhub_answers

    if payhub_answers(settings, settings.port):
        print(
            f"payhub: a PayHub server answers on http://{local_host(settings)}:{settings.port}: stop it first"
            " (it holds the database); nothing reset",
            file=sys.stderr,
        )
        return 1
    return _restore_demo(settings)


def _restore_demo(settings: Settings) -> int:
    from payhub.demo import DEMO_POLICIES, restore_demo

    dropped = asyncio.run(restore_demo(settings))
    print(
        f"demo data restored in {logs.redact_url(settings.database_url)}: PayHub's tables dropped and made anew"
        f" ({len(dropped)} objects), demo premiums {', '.join(DEMO_POLICIES)} due"
    )
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    return _serve_services(settings, [args.service], args.port, banner=False)


def _serve_services(settings: Settings, services: list[str] | None, port: int, *, banner: bool) -> int:
    """Serve the app of ``services`` with uvicorn; its lifespan opens and closes the container."""
    import uvicorn

    from hub.http.server import uvicorn_options
    from payhub.app import create_app
    from payhub.bootstrap import SERVICES

    logs.configure(settings.log_level, settings.log_secrets(), repeat_window_s=settings.log_repeat_window_s)
    _raise_open_files_limit()

    async def serve() -> bool:
        app = create_app(settings, services=services or SERVICES)
        app.state.freeze_gc = True  # start-up's objects kept out of full collections (payhub.app._lifespan)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=port,
            lifespan="on",
            log_config=None,
            # X-Forwarded-For is trusted only from PAYHUB_TRUSTED_PROXIES, by the app (hub/http/access.py).
            proxy_headers=False,
            **uvicorn_options(settings),  # size, time and per-client bounds (hub/http/server.py)
            # Open streams would hold a shutdown forever; clients reconnect and resume elsewhere.
            timeout_graceful_shutdown=settings.shutdown_grace_s,
        )
        server = uvicorn.Server(config)
        if banner:
            _banner(settings, port)
        await server.serve()
        return server.started

    if not _run_server_loop(serve()):
        print("payhub: start-up failed (see the log above)", file=sys.stderr)
        return 1
    return 0


def _raise_open_files_limit() -> None:
    """Every waiting subscriber holds a socket: use all the file descriptors the host allows."""
    import logging
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.getLogger("payhub").info("open files limit", extra={"limit": max(soft, hard)})


def _banner(settings: Settings, port: int) -> None:
    """What is served where, and (sandbox) commands to paste into another shell in this directory, which
    work as printed: the ``payhub`` script by the path that reaches it from here, the real port."""
    base = f"http://{settings.host}:{port}"
    lines = [
        f"PayHub ({settings.mode} mode) on {base}",
        f"  gateway      {base}/AMK/payments?query=P123456789",
        f"  webhooks     POST {base}/AMK/payments   POST {base}/AMK/khqr",
        f"  sandbox      {base}/sandbox/amk/simulate/pay   {base}/sandbox/amk/control" if settings.sandbox else "",
        f"  notices      {base}/sandbox/notifications   (what push, SMS, email, webhooks would send)"
        if settings.sandbox
        else "",
        f"  demo page    {base}/demo/",
        f"  analytics    {base}/ops/analytics/   (admin token: {_this_script()} token --sub you --role admin)",
        f"  khqr         {base}/khqr?bankCode=AMK&billNumber=P123456789",
        f"  push         {base}/api/payments/{{paymentId}}/events   ws://{settings.host}:{port}/ws/payments",
        f"  health       {base}/healthz   {base}/readyz",
        f"  database     {logs.redact_url(settings.database_url)}",
    ]
    if settings.sandbox:
        from payhub.demo import local_host

        here = f"http://{local_host(settings)}:{port}"
        payhub = _this_script()
        lines += [
            "  try it (another shell, this directory):",
            f"    TOKEN=$({payhub} token --sub demo --role customer | tail -n1)",
            f"    curl -s -H \"Authorization: Bearer $TOKEN\" '{here}/AMK/payments?query=P555000111'; echo",
            f"    curl -s -X POST -H 'Content-Type: application/json' {here}/sandbox/amk/simulate/pay"
            """ -d '{"billNumber": "P555000111"}'; echo""",
            f"  demo data back as new: stop this server, then `make reset` or `{payhub} run --fresh-demo`",
        ]
    else:
        lines.append(f"  get a token: {_this_script()} token --sub ID --role customer|amk|admin")
    print("\n".join(line for line in lines if line), flush=True)


def _this_script() -> str:
    """The ``payhub`` script as a shell in the current directory reaches it (``.venv/bin/payhub`` in a
    checkout); an absolute path when it lies outside the current directory."""
    script = Path(sys.executable).parent / "payhub"
    try:
        relative = script.relative_to(Path.cwd())
    except ValueError:
        return str(script)
    return str(relative) if str(relative).startswith(".") else f"./{relative}"


def _worker(name: str) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        from payhub import workers as processes

        logs.configure(settings.log_level, settings.log_secrets(), repeat_window_s=settings.log_repeat_window_s)
        target = processes.run_relay if name == "relay" else processes.run_feeder
        _run_server_loop(target(settings, port=args.port))
        return 0

    return run


def _run_server_loop(main: Coroutine[Any, Any, _T]) -> _T:
    """Run a server's ``main`` on uvloop (libuv: cheaper socket I/O and callbacks than asyncio's own loop,
    the loop ``uvicorn.run`` would pick itself; it comes with ``uvicorn[standard]``), else on asyncio's."""
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] installs it everywhere but on Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _dlq_list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.event_consumer import list_dead_letters
    from hub.topics import Topics

    if not settings.kafka_bootstrap:
        print("payhub: PAYHUB_KAFKA_BOOTSTRAP is not set", file=sys.stderr)
        return 2
    topics = Topics(settings.kafka_topic_prefix)
    letters = asyncio.run(
        list_dead_letters(settings.kafka_bootstrap, topics.dead_letter(topics.name(args.topic)), args.limit)
    )
    for letter in letters:
        print(json_codec.dumps(letter))
    print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


def _dlq_replay(settings: Settings, args: argparse.Namespace) -> int:
    from hub.event_consumer import replay
    from hub.topics import Topics

    if not settings.kafka_bootstrap:
        print("payhub: PAYHUB_KAFKA_BOOTSTRAP is not set", file=sys.stderr)
        return 2
    topics = Topics(settings.kafka_topic_prefix)
    source = topics.name(args.topic)
    count = asyncio.run(
        replay(settings.kafka_bootstrap, topics.dead_letter(source), source, idempotence=settings.kafka_idempotence)
    )
    print(f"replayed {count} message(s) to {source}")
    return 0


def _row_id(text: str) -> int:
    """An argparse type: an id from 1 to BIGINT's largest (every id column is a BIGINT)."""
    from hub.http.path import MAX_ID

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:24]!r} is not an id") from None
    if not 0 < value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"{text[:24]} is not an id from 1 to {MAX_ID}")
    return value


def _count(text: str) -> int:
    """An argparse type: a row count from 1 to 100000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:24]!r} is not a number") from None
    if not 0 < value <= 100_000:
        raise argparse.ArgumentTypeError(f"{text[:24]} is not from 1 to 100000")
    return value


def _notifications_list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.domain.notification import NotificationState
    from payhub.backends import open_store

    try:
        states = [NotificationState(s.strip().upper()) for s in args.state.split(",") if s.strip()]
    except ValueError:
        print("payhub: --state takes PENDING, SENT, FAILED, DEAD, CANCELLED", file=sys.stderr)
        return 2

    async def go() -> list[dict[str, object]]:
        async with open_store(settings.database_url) as store, store.transaction() as tx:
            rows = (
                await tx.notifications.for_payment(args.payment)
                if args.payment is not None
                else await tx.notifications.listing(states, limit=args.limit)
            )
        return [n.json() for n in rows]

    found = asyncio.run(go())
    for row in found:
        print(json_codec.dumps(row))
    print(f"{len(found)} notification(s)", file=sys.stderr)
    return 0


def _notifications_retry(settings: Settings, args: argparse.Namespace) -> int:
    """DEAD → PENDING (attempts from 0): a running notifier sends them at its next look (within a second)."""
    from payhub.backends import open_store

    if not args.ids and not args.all:
        print("payhub: name notification ids, or --all", file=sys.stderr)
        return 2

    async def go() -> list[int]:
        async with open_store(settings.database_url) as store, store.transaction() as tx:
            return await tx.notifications.revive(None if args.all else args.ids, datetime.now(UTC))

    revived = asyncio.run(go())
    print(f"{len(revived)} notification(s) queued again: {', '.join(map(str, revived)) or '-'}")
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from payhub.backends import open_store

    async def go() -> list[str]:
        async with open_store(settings.database_url, migrate=False) as store:
            return await store.migrate()

    applied = asyncio.run(go())
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from hub.auth import authenticator

    if args.ttl <= 0:
        print("payhub: --ttl must be positive", file=sys.stderr)
        return 2
    auth = authenticator(settings)
    try:
        token = auth.issue(args.sub, args.role, args.ttl)
    except ValueError as exc:
        print(f"payhub: {exc}", file=sys.stderr)
        return 2
    print(f"# {args.role} token for {args.sub}, valid {args.ttl} s", file=sys.stderr)
    print(token)
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text) if len(text) == 10 else date.fromisoformat("invalid")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from payhub.builders import amk_config
    from payhub.reconciliation import reconcile_command

    logs.configure(settings.log_level, settings.log_secrets(), repeat_window_s=settings.log_repeat_window_s)
    return reconcile_command(settings, amk_config(settings), args.date, args.statement)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from hub.errors import PremiumImportError
    from integration.premiums import PremiumService, parse_premiums_csv
    from payhub.backends import open_store

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        print(f"payhub: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"payhub: {args.file}: nothing imported, not UTF-8 (byte {exc.start}: {exc.reason})", file=sys.stderr)
        return 1
    try:
        premiums = parse_premiums_csv(text)
    except PremiumImportError as exc:
        print(f"payhub: {args.file}: nothing imported, {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1

    async def go() -> int:
        async with open_store(settings.database_url) as store:
            return await PremiumService(store).import_premiums(premiums)

    print(f"imported {asyncio.run(go())} premium(s) from {args.file}")
    return 0


def _operator(by: str | None) -> str:
    import getpass

    try:
        return by or f"cli:{getpass.getuser()}"
    except OSError:  # no user name in this environment
        return "cli"


def _blocklist_list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.fraud.blocklist import Blocklist
    from payhub.backends import open_store

    if not 1 <= args.limit <= 100_000:
        print("payhub: --limit must be between 1 and 100000", file=sys.stderr)
        return 2

    async def go() -> list[dict[str, object]]:
        async with open_store(settings.database_url) as store:
            blocklist = Blocklist(store)
            entries = await blocklist.entries(include_inactive=args.all, limit=args.limit)
            return [e.to_json(blocklist.now()) for e in entries]

    entries = asyncio.run(go())
    for entry in entries:
        print(json_codec.dumps(entry))
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", file=sys.stderr)
    return 0


def _blocklist_add(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from hub.errors import BadRequest
    from hub.fraud.blocklist import Blocklist, parse_new_entry
    from payhub.backends import open_store

    now = datetime.now(UTC)
    if args.ttl is not None and args.ttl <= 0:
        print("payhub: --ttl must be positive", file=sys.stderr)
        return 2
    try:
        expires = (now + timedelta(seconds=args.ttl)).isoformat() if args.ttl is not None else args.expires
    except OverflowError:
        print("payhub: --ttl is too large (the entry would expire after the year 9999)", file=sys.stderr)
        return 2
    data = {"kind": args.kind, "value": args.value, "reason": args.reason, "expiresAt": expires}
    try:
        entry = parse_new_entry(data, now)
    except BadRequest as exc:
        for problem in exc.details or []:
            print(f"payhub: nothing added: {problem['field']}: {problem['message']}", file=sys.stderr)
        return 2

    async def go() -> dict[str, object]:
        async with open_store(settings.database_url) as store:
            blocklist = Blocklist(store)
            added = await blocklist.add(entry, _operator(args.by))
            return added.to_json(blocklist.now())

    print(json_codec.dumps(asyncio.run(go())))
    return 0


def _blocklist_remove(settings: Settings, args: argparse.Namespace) -> int:
    from hub.fraud.blocklist import Blocklist
    from hub.http.path import MAX_ID
    from payhub.backends import open_store

    if not 0 < args.id <= MAX_ID:  # every id column is a BIGINT: no entry has such an id
        print(f"payhub: No blocklist entry {args.id} to remove", file=sys.stderr)
        return 1

    async def go() -> dict[str, object]:
        async with open_store(settings.database_url) as store:
            blocklist = Blocklist(store)
            removed = await blocklist.remove(args.id, _operator(args.by))
            return removed.to_json(blocklist.now())

    print(json_codec.dumps(asyncio.run(go())))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
