"""The event stream port: producers and consumer groups over keyed topics.

Two backends share this interface: ``memory.py`` (in-process, the embedded default and the fake
for tests) and ``kafka.py`` (aiokafka, production). Both are async context managers.

Guarantees every backend gives:

* A producer's ``send_many`` returns only after the broker acknowledged every record; if it raises
  ``StreamUnavailable`` some records may have been written anyway (at-least-once, never "maybe lost").
* Records with the same key keep their send order for consumers.
* A consumer hands out messages of one partition in offset order. ``commit()`` stores, for its group,
  the position after every message handed out so far; a consumer of the same group started later
  begins there, so uncommitted messages are delivered again. ``rewind()`` moves back to the first
  message handed out since the last commit (a failed batch is retried without restarting).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hub.errors import ServiceUnavailable
from hub.json_codec import dumps_bytes, loads_object

Header = tuple[str, bytes]
Record = tuple[str, str, Mapping[str, Any]]  # (topic, key, JSON value)


class StreamUnavailable(ServiceUnavailable):
    """The broker could not be reached or did not acknowledge in time (retriable)."""

    default_message = "Event stream unavailable"


@dataclass(frozen=True)
class Message:
    """One consumed record, as stored by the broker (key and value are the raw bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> str | None:
        for key, raw in self.headers:
            if key == name:
                return raw.decode("utf-8", "replace")
        return None


class Producer(Protocol):
    async def send_many(self, records: Sequence[Record]) -> None:
        """Send JSON records (key = str) and wait until every one is acknowledged."""

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        """Send one record byte for byte (dead letters, replays) and wait for its ack."""


class Consumer(Protocol):
    async def getmany(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        """The next messages (possibly none after ``timeout_s``), in offset order per partition."""

    def __aiter__(self) -> AsyncIterator[Message]:
        """Every message, one at a time, forever."""

    async def commit(self) -> None:
        """Store the position after every message handed out so far, for this group."""

    async def rewind(self) -> None:
        """Go back to the first message handed out since the last commit."""


def encode_value(value: Mapping[str, Any]) -> bytes:
    """Compact JSON; decimals stay exact numbers."""
    return dumps_bytes(value)


def decode_value(raw: bytes | None) -> dict[str, Any]:
    """Inverse of ``encode_value``; raises ValueError unless ``raw`` is a JSON object."""
    if raw is None:
        raise ValueError("empty value")
    return loads_object(raw, field="value")


__all__ = [
    "Consumer",
    "Header",
    "Message",
    "Producer",
    "Record",
    "StreamUnavailable",
    "decode_value",
    "encode_value",
]
