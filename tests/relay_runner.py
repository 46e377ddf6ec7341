"""Run an outbox relay in a process of its own, for the crash tests.

    python -m tests.relay_runner DB_URL BOOTSTRAP [--batch N] [--pause-after-send S --marker PATH]

With ``--pause-after-send`` every batch waits S seconds after the broker acknowledged it and before
the rows are marked published, after touching MARKER: the window in which a SIGKILL loses the marks.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from hub.adapters.stream import Header, Producer, Record
from hub.adapters.stream.kafka import KafkaProducer
from hub.relay import OutboxRelay
from hub.topics import Topics
from payhub.bootstrap import is_postgres, open_store


class PausingProducer:
    def __init__(self, inner: Producer, pause_s: float, marker: Path) -> None:
        self._inner, self._pause_s, self._marker = inner, pause_s, marker

    async def send_many(self, records: Sequence[Record], *, headers: Sequence[Header] = ()) -> None:
        await self._inner.send_many(records, headers=headers)
        self._marker.write_text(f"{len(records)}\n")
        await asyncio.sleep(self._pause_s)

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        await self._inner.send_raw(topic, key, value, headers)


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("bootstrap")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pause-after-send", type=float, default=0.0)
    parser.add_argument("--marker", type=Path)
    args = parser.parse_args(argv)
    async with (
        open_store(args.db_url, migrate=False, pool_min=1, pool_max=2) as store,
        KafkaProducer(args.bootstrap, idempotence=False, request_timeout_ms=2000) as kafka,
    ):
        producer: Producer = kafka
        if args.pause_after_send:
            producer = PausingProducer(kafka, args.pause_after_send, args.marker)
        relay = OutboxRelay(
            store,
            producer,
            Topics(),
            batch=args.batch,
            poll_s=0.1,
            listen_url=args.db_url if is_postgres(args.db_url) else None,
        )
        await relay.run_forever()


if __name__ == "__main__":
    asyncio.run(main())
