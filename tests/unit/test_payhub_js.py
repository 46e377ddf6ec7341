"""Pure parts of clients/js/payhub.js, run in Node.js, against their Python references.

- ``formatAmount`` against ``hub.domain.money`` (the house's quantize and format): the page shows an
  amount as PayHub stores it, only grouped by thousands.
- ``sseParser`` against ``httpx-sse`` (the Python client's parser) on generated streams cut into
  random chunks with any of the three line endings: the same events, ids and ``retry:`` hints.
- ``backoffDelay``: never sooner than the server's hint, within the doubling ceiling.
Without Node.js the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.money import Currency, format_amount, quantize

PURE = Path(__file__).resolve().parents[1] / "clients_js" / "pure.mjs"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node not found (CI=true: not skipping)")
        pytest.skip("node not found")
    return found


def run(cases: list[dict[str, Any]]) -> list[Any]:
    done = subprocess.run(
        [node(), str(PURE)], input=json.dumps(cases), capture_output=True, text=True, timeout=30, check=True
    )
    result: list[Any] = json.loads(done.stdout)
    return result


def amounts(currency: Currency) -> st.SearchStrategy[Decimal]:
    top = 10**currency.max_integer_digits - 1
    return st.decimals(min_value=0, max_value=top, places=4, allow_nan=False, allow_infinity=False)


money = st.sampled_from(list(Currency)).flatmap(lambda c: st.tuples(st.just(c), amounts(c)))


@settings(max_examples=10, deadline=None)
@given(st.lists(money, min_size=30, max_size=30))
def test_format_amount_is_the_houses_grouped(cases: list[tuple[Currency, Decimal]]) -> None:
    """As text (any digits), and as the JSON number PayHub sends (already at the currency's scale)."""
    batch: list[dict[str, Any]] = []
    for currency, amount in cases:
        batch.append({"op": "format", "amount": str(amount), "currency": currency.value})
        batch.append({"op": "format", "amount": float(quantize(amount, currency)), "currency": currency.value})
    got = run(batch)
    for (currency, amount), as_text, as_number in zip(cases, got[::2], got[1::2], strict=True):
        expected = f"{format_amount(amount, currency)} {currency.value}"
        assert as_text.replace(",", "") == expected, (amount, as_text)
        assert as_number == as_text, (amount, as_number)
        whole = as_text.split(" ")[0].split(".")[0]
        assert all(len(g) == 3 for g in whole.split(",")[1:]) and 1 <= len(whole.split(",")[0]) <= 3


def test_format_amount_examples() -> None:
    cases = [("150", "USD"), ("75.5", "USD"), ("600000", "KHR"), ("0.005", "USD"), ("999.995", "USD"), ("0.5", "KHR")]
    assert run([{"op": "format", "amount": a, "currency": c} for a, c in cases]) == [
        "150.00 USD",
        "75.50 USD",
        "600,000 KHR",
        "0.01 USD",
        "1,000.00 USD",
        "1 KHR",
    ]


# ------------------------------------------------------------------------------ SSE parsing

value_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00", exclude_categories=("Cs",)), max_size=12
)
line = st.one_of(
    st.tuples(st.just("data"), value_text.filter(bool)),
    st.tuples(st.sampled_from(["event", "id"]), value_text),
    st.tuples(st.just("retry"), st.one_of(st.integers(0, 10**6).map(str), value_text)),
    st.tuples(st.just(""), value_text),  # a comment
    st.tuples(st.just("other"), value_text),
)
blocks = st.lists(st.lists(line, min_size=1, max_size=4), min_size=1, max_size=6)


def render(block_list: list[list[tuple[str, str]]], endings: list[str], space: bool) -> str:
    out = []
    i = 0
    for block in block_list:
        for name, value in block:
            sep = ": " if space else ":"
            out.append(f"{name}{sep}{value}" + endings[i % len(endings)])
            i += 1
        out.append(endings[i % len(endings)])
        i += 1
    return "".join(out)


def python_parse(chunks: list[str]) -> dict[str, Any]:
    lines, decoder, events, retries = SSELineDecoder(), SSEDecoder(), [], []
    for chunk in chunks:
        for text in lines.decode(chunk):
            sse = decoder.decode(text)
            if sse is not None:
                if sse.retry is not None:
                    retries.append(sse.retry)
                if sse.data:  # generated data lines are never empty: "" is a block without data
                    events.append({"type": sse.event, "data": sse.data, "id": sse.id or ""})
    for text in lines.flush():
        sse = decoder.decode(text)
        if sse is not None:
            if sse.retry is not None:
                retries.append(sse.retry)
            if sse.data:
                events.append({"type": sse.event, "data": sse.data, "id": sse.id or ""})
    # WHATWG sets the reconnection time when the field is read; httpx-sse reports it with the next
    # dispatch, so a retry: in a block the stream never closed is only in its decoder.
    if decoder._retry is not None:
        retries.append(decoder._retry)
    return {"events": events, "retries": retries}


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(
            blocks,
            st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=3),
            st.booleans(),
            st.lists(st.integers(1, 40), min_size=1, max_size=10),
        ),
        min_size=10,
        max_size=10,
    )
)
def test_sse_parser_agrees_with_httpx_sse(streams: list[Any]) -> None:
    cases, expected = [], []
    for block_list, endings, space, cuts in streams:
        text = render(block_list, endings, space)
        chunks, i, k = [], 0, 0
        while i < len(text):
            chunks.append(text[i : i + cuts[k % len(cuts)]])
            i += cuts[k % len(cuts)]
            k += 1
        cases.append({"op": "sse", "chunks": chunks})
        expected.append(python_parse(chunks))
    # What counts is the reconnection time in force at the end (several retry: fields in one block
    # are each applied by WHATWG, only the last is reported by httpx-sse).
    got = [{"events": r["events"], "retry": (r["retries"] or [None])[-1]} for r in run(cases)]
    assert got == [{"events": r["events"], "retry": (r["retries"] or [None])[-1]} for r in expected]


def test_sse_parser_on_the_push_services_frames() -> None:
    frame = 'retry: 2000\n\nid: 7\nevent: payment.status\ndata: {"paymentId":1,"status":"CONFIRMED"}\n\n: heartbeat\n\n'
    [got] = run([{"op": "sse", "chunks": [frame[:17], frame[17:40], frame[40:]]}])
    assert got == {
        "events": [{"type": "payment.status", "data": '{"paymentId":1,"status":"CONFIRMED"}', "id": "7"}],
        "retries": [2000],
    }


# ------------------------------------------------------------------------------ back-off


@settings(max_examples=10, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40),
            st.integers(1, 5000),
            st.integers(1, 60000),
            st.one_of(st.none(), st.integers(1, 90000)),
            st.floats(0, 1, exclude_max=True),
        ),
        min_size=40,
        max_size=40,
    )
)
def test_backoff_never_before_the_hint_and_within_the_ceiling(
    cases: list[tuple[int, int, int, int | None, float]],
) -> None:
    from payhub_client import backoff_delay

    got = run(
        [{"op": "backoff", "attempt": a, "baseMs": b, "maxMs": m, "hintMs": h, "r": r} for a, b, m, h, r in cases]
    )
    for (attempt, base, cap, hint, r), delay in zip(cases, got, strict=True):
        floor = hint if hint else min(base, cap)
        assert delay >= floor
        assert delay <= max(floor, cap), (attempt, base, cap, hint, r, delay)
        assert delay <= max(floor, max(floor, base) * 2 ** (attempt + 1))
        # The Python client's rule is the same one.
        py = backoff_delay(
            attempt, base_s=base / 1000, max_s=cap / 1000, hint_s=hint / 1000 if hint else None, rand=lambda r=r: r
        )
        assert abs(py * 1000 - delay) <= 1


def test_a_silent_stream_is_reopened_after_the_hint_with_its_cursor() -> None:
    """No byte for idleTimeoutMs: the fetch reader drops the connection, waits at least the server's
    retry: (400 ms; the ceiling is backoffDelay's, tested above) and resumes with Last-Event-ID."""
    done = subprocess.run(
        [node(), str(PURE.parent / "silent_stream.mjs")], capture_output=True, text=True, timeout=30, check=True
    )
    got = json.loads(done.stdout)
    assert got["events"] == [[5, "PENDING", False], [6, "CONFIRMED", True]] and got["final"] == "CONFIRMED"
    assert got["requests"] == [{"lastEventId": None, "auth": "Bearer tok"}, {"lastEventId": "5", "auth": "Bearer tok"}]
    assert got["gapMs"] >= got["idle"] + got["hint"], got  # never sooner than the server asked


@given(
    st.lists(
        st.tuples(st.sampled_from([None, 1000, 1001, 1006, 1008, 1011, 1012, 1013]), st.floats(0, 1, exclude_max=True)),
        min_size=20,
        max_size=20,
    )
)
def test_a_restart_close_spreads_the_next_attempt(cases: list[tuple[int | None, float]]) -> None:
    """A WebSocket closed for a restart (1001, 1012, 1013) waits up to restartSpreadMs more, at random;
    any other close adds nothing (its backoffDelay alone applies)."""
    got = run([{"op": "restart", "code": code, "spreadMs": 5000, "r": r} for code, r in cases])
    for (code, r), extra in zip(cases, got, strict=True):
        if code in (1001, 1012, 1013):
            assert 0 <= extra <= 5000 and extra == round(r * 5000)
        else:
            assert extra == 0
