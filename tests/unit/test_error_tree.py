"""The one error tree (hub/errors.py): the docstring's picture is the real hierarchy, every error
knows its status, code and retriability, and the old import paths still work."""

from __future__ import annotations

import inspect
import re

import hub.errors as errors
from hub.errors import PayHubError, UniqueViolation
from hub.http.envelope import error_body

_LINE = re.compile(
    r"^(?P<indent>\s*(?:[│ ]   )*)(?:[├└]── )?(?P<name>[A-Z]\w+)(?: \((?P<mixin>\w+)\))?\s+(?P<rest>.*)$"
)


def _tree() -> dict[str, tuple[str | None, str]]:
    """name -> (parent in the picture, the rest of its line)."""
    doc = errors.__doc__ or ""
    lines = [line for line in doc.splitlines() if line.startswith("    ") and ("──" in line or "PayHubError" in line)]
    parents: list[str] = []
    out: dict[str, tuple[str | None, str]] = {}
    for line in lines:
        m = _LINE.match(line[4:])
        assert m, line
        depth = len(m["indent"]) // 4 + (1 if "──" in line else 0)
        parents = parents[:depth]
        out[m["name"]] = (parents[-1] if parents else None, m["rest"])
        parents.append(m["name"])
    return out


def _classes() -> dict[str, type[PayHubError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, PayHubError) and cls.__module__ == errors.__name__
    }


def test_the_docstring_tree_is_the_class_hierarchy() -> None:
    tree, classes = _tree(), _classes()
    assert set(tree) == set(classes)
    for name, (parent, rest) in tree.items():
        cls = classes[name]
        if parent is None:
            assert cls is PayHubError
            continue
        assert cls.__mro__[1] is classes[parent], name
        status = re.match(r"(\d{3}) (\w+)", rest)
        if status:  # a line that names a status and code names the class's own
            assert (cls.status_code, cls.code) == (int(status[1]), status[2]), name
        assert cls.retriable is ("retriable" in rest or classes[parent].retriable), name


def test_every_error_knows_its_status_code_and_retriability() -> None:
    for name, cls in _classes().items():
        assert 400 <= cls.status_code <= 599, name
        assert re.fullmatch(r"[A-Z_]+", cls.code), name
        assert isinstance(cls.retriable, bool), name
    assert [n for n, c in _classes().items() if c.retriable] == [
        "AmkUnavailable",
        "ChannelUnavailable",
        "CircuitOpen",
        "RateLimitExceeded",
        "ServiceUnavailable",
        "StreamUnavailable",
    ]


def test_errors_moved_here_are_still_importable_from_their_old_homes() -> None:
    from hub.adapters.store.sql import UniqueViolation as FromStore
    from hub.adapters.stream import StreamUnavailable
    from hub.domain.khqr.codec import KhqrError
    from hub.domain.money import MoneyError
    from hub.errors import PremiumImportError
    from hub.resilience.breaker import CircuitOpen
    from khqr.amk_qr import AmkAuthFailed
    from khqr.service import BankNotFound, QrMismatch

    assert FromStore is UniqueViolation
    moved = (
        StreamUnavailable,
        MoneyError,
        CircuitOpen,
        PremiumImportError,
        AmkAuthFailed,
        KhqrError,
        BankNotFound,
        QrMismatch,
    )
    assert all(cls.__module__ == "hub.errors" for cls in moved)
    assert issubclass(MoneyError, ValueError) and issubclass(KhqrError, ValueError)


def test_a_store_conflict_never_shows_the_databases_text() -> None:
    err = UniqueViolation('duplicate key value violates unique constraint "payments_transaction"')
    body = error_body(err)
    assert (err.status_code, body["error"]["code"], body["error"]["message"]) == (
        500,
        "INTERNAL_ERROR",
        "Internal error",
    )
    assert "payments_transaction" not in str(body) and "payments_transaction" in str(err)
