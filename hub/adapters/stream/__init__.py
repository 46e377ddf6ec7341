"""The event stream: producers and consumer groups over keyed topics (ports in ``hub.ports``).

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

from collections.abc import Mapping
from typing import Any

from hub.errors import StreamUnavailable
from hub.json_codec import dumps_bytes, loads_object
from hub.ports import Consumer, Header, Message, Producer, Record


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
