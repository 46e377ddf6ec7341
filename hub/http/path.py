"""Reading ids from URL paths."""

from __future__ import annotations

from starlette.requests import Request

from hub.errors import NotFound

MAX_ID = 2**63 - 1
"""Largest id: every id column is a BIGINT."""


def path_id(request: Request, name: str) -> int:
    """The path parameter ``name`` as an id from 1 to :data:`MAX_ID`; :class:`NotFound` (404) otherwise.

    Routes declare the parameter as ``{name:str}``, not ``{name:int}``: Starlette's ``int`` convertor calls
    ``int()`` on any run of digits while routing, and past Python's 4,300-digit limit that is a 500.
    """
    raw: str = request.path_params[name]
    # isascii: str.isdigit() also takes "²", which int() refuses
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= MAX_ID):
        shown = raw if len(raw) <= 24 else raw[:24] + "…"
        raise NotFound(f"No such id {shown}")
    return int(raw)
