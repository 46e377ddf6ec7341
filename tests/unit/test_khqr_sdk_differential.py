"""Differential test: our KHQR decoder against the official NBC SDK (npm ``bakong-khqr`` 1.0.20).

``make khqr-sdk`` (a prerequisite of ``make test``) installs the pinned SDK into
tests/khqr_sdk/node_modules from the committed lock file; tests/khqr_sdk/oracle.js runs its
``BakongKHQR.verify`` (and ``decode`` for what it accepts) in one Node.js process, a batch of QRs
per JSON line.  4,000 QRs (100 Hypothesis examples of 40 seeds for ``QrMaker``) carry every
field and sub-field the SDK knows, Khmer (and emoji, and zero-width) text in every text field,
unknown tags from the ranges EMVCo reserves, any field order, either CRC case, values on both
sides of every SDK limit, and half of them one mutation (wrong, UTF-8 or code-point lengths,
non-digit lengths, duplicates, deletions, truncation, control characters, the CRC, single
characters).  Verdicts must agree, and where both accept, so must the decoded fields.  The SDK's
own test vectors, the encoder's output and one example per deliberate difference are checked
too.  Where we refuse on purpose what the SDK accepts, the case is in ``DELIBERATE`` below with
its reason; there is no case where we accept what the SDK refuses.
Without Node.js or the SDK the test is skipped, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.khqr._tlv import crc16_ccitt_false, parse_tlv
from hub.domain.khqr.codec import KhqrError, KhqrPayload, decode, encode
from tests.unit.khqr_sdk_vectors import SDK_VECTORS
from tests.unit.test_khqr_codec import payloads

SDK_DIR = Path(__file__).resolve().parents[1] / "khqr_sdk"
BATCH = 40
EXAMPLES = 100

# ----------------------------------------------------------------------------------------------
# Building QRs by hand.


def units(text: str) -> int:
    """UTF-16 code units, written independently of hub.domain.khqr._tlv.units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def field(tag: str, value: str, length: int | None = None) -> str:
    return f"{tag}{units(value) if length is None else length:02d}{value}"


def sign(body: str, lower: bool = False) -> str:
    body += "6304"
    crc = crc16_ccitt_false(body)
    return body + (crc.lower() if lower else crc)


STAMPS = field("00", "1700000000000") + field("01", "1700000900000")
BASE = [
    field("00", "01"),
    field("01", "12"),
    field("29", field("00", "john_smith@devb")),
    field("52", "5999"),
    field("53", "840"),
    field("54", "1.00"),
    field("58", "KH"),
    field("59", "John Smith"),
    field("60", "Phnom Penh"),
    field("99", STAMPS),
]


def base(*, replace: dict[int, str] | None = None, insert: dict[int, str] | None = None) -> str:
    """BASE (a dynamic USD QR both accept) with fields replaced or inserted by index, signed."""
    fields = [(replace or {}).get(i, f) for i, f in enumerate(BASE)]
    for at, extra in sorted((insert or {}).items(), reverse=True):
        fields.insert(at, extra)
    return sign("".join(fields))


# ----------------------------------------------------------------------------------------------
# Where we differ from the SDK on purpose: each case is one the SDK's verify accepts and our
# decoder refuses (reason, test on the QR and our error message, an example).  There is no case
# the other way round.


def _message(pattern: str) -> Callable[[str, str], bool]:
    return lambda _qr, message: re.search(pattern, message) is not None


def _timestamps_before_initiation(qr: str, message: str) -> bool:
    tags = [tag for tag, _ in parse_tlv(qr, "payload")]
    return message.startswith("99.01") and "01" in tags and tags.index("99") < tags.index("01")


DELIBERATE: list[tuple[str, Callable[[str, str], bool], str]] = [
    (
        "A repeated tag or sub-tag: the SDK keeps the last one (and stops reading at an adjacent "
        "repeat); which name, amount or account was meant would be a guess",
        _message(r"duplicate tag"),
        base(insert={10: field("59", "Jane Smith")}),
    ),
    (
        "A tag or length that is not two digits: the SDK reads lengths with parseInt (' 5', '5x', '-1') "
        "and skips tags it cannot name, so it reads another QR than a bank app that follows EMVCo",
        _message(r"invalid tag|invalid length field|truncated field header"),
        base(insert={9: "61 5abcde"}),
    ),
    (
        "A sub-field longer than what is left of its template: the SDK silently shortens it",
        _message(r"truncated, declares"),
        base(insert={9: field("62", "0110abc")}),
    ),
    (
        "A length that ends between the two halves of a character outside the BMP, or half of one "
        "alone (the SDK's CRC reads it as U+FFFD): that is no text",
        _message(r"splits a character|lone surrogate"),
        base(insert={9: field("62", "5001😀100")}),
    ),
    (
        "Control characters (Unicode Cc): EMVCo allows none, and they are no part of a name or label",
        _message(r"control character"),
        base(replace={7: field("59", "John\nSmith")}),
    ),
    (
        "Both tag 29 and tag 30 (not adjacent; adjacent ones the SDK reads as a repeat and refuses): "
        "two accounts, so it is unclear which one is paid",
        _message(r"exactly one of tags 29 and 30 required, found both"),
        base(insert={9: field("30", field("00", "jane@devb"))}),
    ),
    (
        "An amount PayHub's one amount parser refuses: not a decimal number ('1,5', '.5', 'abc'), zero, "
        "more decimals than the currency has ('1.005' USD, '5.5' KHR) or over 9,999,999,999.99 USD; "
        "the SDK checks only length and '-'; money must be read exactly or not at all",
        _message(r"54 amount: .* \(PayHub's amount parser\)$"),
        base(replace={5: field("54", "1,50")}),
    ),
    (
        "A dynamic QR's timestamp that is not digits: the SDK uses Number(), which takes ' 1e12', "
        "'0x1F' and ''; an expiry must be read exactly",
        _message(r"99\.0[01] \w+: must be digits in a dynamic QR"),
        base(replace={9: field("99", field("00", "") + field("01", "1700000900000"))}),
    ),
    (
        "Tag 99 before tag 01: the SDK checks a dynamic QR's expiry only when 01 comes first",
        _timestamps_before_initiation,
        base(
            replace={1: field("99", field("00", "1700000900000") + field("01", "1700000000000")), 9: field("01", "12")}
        ),
    ),
]


def deliberate_reason(qr: str, message: str) -> str | None:
    return next((reason for reason, applies, _ in DELIBERATE if applies(qr, message)), None)


# ----------------------------------------------------------------------------------------------
# The oracle process.


class Sdk:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process

    def verdicts(self, qrs: list[str]) -> list[dict[str, Any]]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(qrs) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, f"the SDK oracle exited (code {self._process.poll()})"
        result: list[dict[str, Any]] = json.loads(line)
        assert len(result) == len(qrs)
        return result


@pytest.fixture(scope="module")
def sdk() -> Iterator[Sdk]:
    node = shutil.which("node")
    installed = (SDK_DIR / "node_modules" / "bakong-khqr" / "package.json").is_file()
    if node is None or not installed:
        missing = "node is not on PATH" if node is None else "the SDK is not installed (run `make khqr-sdk`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"KHQR differential test: {missing} (CI=true: not skipping)")
        pytest.skip(f"KHQR differential test: {missing}")
    process = subprocess.Popen(
        [node, "oracle.js"],
        cwd=SDK_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="surrogatepass",
    )
    try:
        yield Sdk(process)
    finally:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()
        process.wait(timeout=10)
        process.stdout.close()


# ----------------------------------------------------------------------------------------------
# Generated QRs.

# Characters: printable ASCII, Khmer (consonants, vowels, signs, digits, symbols), the invisible
# characters Khmer text carries, and a few outside the BMP (two UTF-16 code units each).
POOL = [
    *(chr(c) for c in range(0x20, 0x7F)),
    *(chr(c) for c in range(0x1780, 0x17DE)),
    *(chr(c) for c in range(0x17E0, 0x17EA)),
    *(chr(c) for c in range(0x19E0, 0x19E8)),
    "\u200b",
    "\u200c",
    "\u00a0",
    "é",
    "😀",
    "𝐀",
]
CONTROLS = ["\n", "\t", "\x00", "\x7f", "\x85"]
# EMVCo MPM tags the SDK does not know (it knows 00 01 15 29 30 52-54 58-60 62-64 99).
UNKNOWN_TAGS = [f"{n:02d}" for n in [*range(2, 15), *range(16, 29), *range(31, 52), 55, 56, 57, 61, *range(65, 99)]]
ODD_AMOUNTS = ["0", "1.5", "5.", ".5", "1.005", "5000.00", "1e3", "1,50", " 5", "-1", "abc", "", "12345678901234"]
ODD_TIMESTAMPS = ["", "0", "00001700000000000", "1700000000000.0", " 1700000000000", "1.7e12", "0x1F", "12345"]
MUTATIONS = [
    "duplicate",
    "duplicate-adjacent",
    "delete",
    "length-off",
    "length-utf8",
    "length-code-points",
    "length-not-digits",
    "control",
    "truncate",
    "crc-flip",
    "char",
]


class QrMaker:
    """Builds one QR from a seed: fields near the SDK's boundaries (each value inside its rule 15
    times in 16), any order, unknown tags and sub-tags, then one mutation half of the time."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def text(self, min_size: int, max_size: int) -> str:
        return "".join(self.rnd.choice(POOL) for _ in range(self.rnd.randint(min_size, max_size)))

    def mostly(self) -> bool:
        return self.rnd.randrange(16) != 0

    def sized(self, max_units: int, min_units: int = 1) -> str:
        if not self.mostly():
            return self.text(max(0, min_units - 1), max_units + 2)
        value = self.text(min_units, max_units)
        while units(value) > max_units:
            value = value[:-1]
        return value if units(value) >= min_units else "x" * min_units

    def maybe(self, value: Callable[[], str]) -> str | None:
        return value() if self.rnd.random() < 0.5 else None

    def template(self, known: dict[str, Callable[[], str]], always: tuple[str, ...] = ()) -> str:
        subs = [(sub, value()) for sub, value in known.items() if sub in always or self.rnd.random() < 0.5]
        if self.rnd.random() < 0.25:
            subs.append((self.rnd.choice([f"{n:02d}" for n in range(100) if f"{n:02d}" not in known]), self.text(0, 8)))
        if self.rnd.random() < 0.25:
            self.rnd.shuffle(subs)
        return "".join(field(sub, value) for sub, value in subs)

    def pick(self, usual: list[str | None], odd: list[str]) -> str | None:
        return self.rnd.choice(usual) if self.mostly() else self.rnd.choice(odd)

    def amount(self, currency: str | None) -> str:
        if not self.mostly():
            return self.rnd.choice(ODD_AMOUNTS) if self.rnd.random() < 0.7 else self.text(0, 14)
        places = 2 if currency == "840" else 0
        value = self.rnd.randrange(10 ** self.rnd.randint(1, 13 - places - (places > 0)))
        return f"{Decimal(value).scaleb(-places):f}"

    def timestamp(self) -> str:
        return str(self.rnd.randrange(10**12, 10**13)) if self.mostly() else self.rnd.choice(ODD_TIMESTAMPS)

    def fields(self) -> list[tuple[str, str]]:
        rnd = self.rnd
        initiation = self.pick(["11", "12", None], ["13", "1", ""])
        currency = self.pick(["840", "116"], ["978", "84", "8400"])
        with_amount = (initiation == "12" and self.mostly()) or (initiation != "12" and rnd.random() < 0.5)
        amount = self.amount(currency) if with_amount else None
        stamps = {"00": self.timestamp, "01": self.timestamp}
        needs_stamps = initiation == "12" or amount is not None
        language = {"00": lambda: self.pick(["km", "KM", "kh"], ["k", "", "khm"]) or "", "01": lambda: self.sized(25)}
        digits = "0123456789"
        mcc = "".join(rnd.choice(digits) for _ in range(4)) if self.mostly() else self.rnd.choice(["", "59A9", "-100"])
        fields = [
            ("00", self.pick(["01"], ["02", "1", "", "011"])),
            ("01", initiation),
            (
                rnd.choice(["29", "30"]),
                self.template(
                    {
                        "00": lambda: (
                            f"{self.text(1, 12)}@{self.text(1, 12)}"[:32] if self.mostly() else self.text(0, 34)
                        ),
                        "01": lambda: self.sized(32, 0),
                        "02": lambda: self.sized(32),
                    },
                    always=("00",),
                ),
            ),
            ("52", mcc),
            ("53", currency),
            ("54", amount),
            ("58", self.pick(["KH"], ["KHM", "", "TH", "KHMR"])),
            ("59", self.sized(25)),
            ("60", self.sized(15)),
            (
                "62",
                self.maybe(lambda: self.template({s: lambda: self.sized(25) for s in ("01", "02", "03", "07", "08")})),
            ),
            ("64", self.maybe(lambda: self.template({**language, "02": lambda: self.sized(15)}))),
            (
                "99",
                self.template(stamps, always=("01",))
                if (self.mostly() if needs_stamps else rnd.random() < 0.5)
                else None,
            ),
            ("15", self.maybe(lambda: self.text(0, 30))),
        ]
        chosen = [(tag, value) for tag, value in fields if value is not None]
        chosen += [(rnd.choice(UNKNOWN_TAGS), self.text(0, 20)) for _ in range(rnd.randint(0, 2))]
        order = rnd.random()
        if order < 0.25:
            rnd.shuffle(chosen)
        elif order < 0.5:  # 00 first, the rest in any order
            rest = chosen[1:]
            rnd.shuffle(rest)
            chosen = [chosen[0], *rest]
        return [(tag, value) for tag, value in chosen if units(value) <= 99]

    def qr(self) -> str:
        rnd = self.rnd
        fields = self.fields()
        mutation = rnd.choice(MUTATIONS) if rnd.random() < 0.5 else "none"
        pick = rnd.randrange(len(fields))
        tag, value = fields[pick]
        encoded = [field(t, v) for t, v in fields]
        if mutation == "duplicate":
            encoded.insert(rnd.randint(0, len(encoded)), encoded[pick])
        elif mutation == "duplicate-adjacent":
            encoded.insert(pick, encoded[pick])
        elif mutation == "delete":
            del encoded[pick]
        elif mutation == "length-off":
            encoded[pick] = field(tag, value, max(0, min(99, units(value) + rnd.choice([-2, -1, 1, 2]))))
        elif mutation == "length-utf8":
            encoded[pick] = field(tag, value, min(99, len(value.encode("utf-8"))))
        elif mutation == "length-code-points":
            encoded[pick] = field(tag, value, len(value))
        elif mutation == "length-not-digits":
            encoded[pick] = tag + rnd.choice([" 5", "5 ", "-1", "+5", "0x", "ab"]) + value
        elif mutation == "control":
            cut = rnd.randint(0, len(value))
            encoded[pick] = field(tag, value[:cut] + rnd.choice(CONTROLS) + value[cut:])
        text = sign("".join(encoded), lower=rnd.random() < 0.25)
        if mutation == "truncate":
            text = text[: rnd.randrange(len(text))]
        elif mutation == "crc-flip":
            text = text[:-1] + ("0" if text[-1] != "0" else "1")
        elif mutation == "char":
            pos = rnd.randrange(len(text))
            text = text[:pos] + rnd.choice(POOL) + text[pos + 1 :]
        return text


# Hypothesis picks the seeds (and replays failing ones from its database); one draw per QR keeps
# 4,000 QRs within a few seconds, where drawing every character through Hypothesis took minutes.
SEEDS = st.integers(0, 2**64 - 1)


# ----------------------------------------------------------------------------------------------
# Comparing.


def ours(qr: str) -> KhqrPayload | str:
    try:
        return decode(qr)
    except KhqrError as exc:
        return str(exc)


def decoded_fields(payload: KhqrPayload) -> dict[str, Any]:
    """Our payload in the SDK's decode vocabulary (absent = None)."""
    account, extra, lang = payload.account, payload.additional, payload.language
    return {
        "merchantType": "29" if account.individual else "30",
        "bakongAccountID": account.bakong_account_id,
        "accountInformation": account.merchant_id if account.individual else None,
        "merchantID": None if account.individual else account.merchant_id,
        "acquiringBank": account.acquiring_bank,
        "billNumber": extra.bill_number if extra else None,
        "mobileNumber": extra.mobile_number if extra else None,
        "storeLabel": extra.store_label if extra else None,
        "terminalLabel": extra.terminal_label if extra else None,
        "purposeOfTransaction": extra.purpose if extra else None,
        "languagePreference": lang.language if lang else None,
        "merchantNameAlternateLanguage": lang.merchant_name if lang else None,
        "merchantCityAlternateLanguage": lang.merchant_city if lang else None,
        "creationTimestamp": payload.created_ms,
        "expirationTimestamp": payload.expires_ms,
        "merchantCategoryCode": payload.mcc,
        "transactionCurrency": {"USD": "840", "KHR": "116"}[payload.currency],
        "transactionAmount": payload.amount,
        "dynamic": payload.dynamic,
        "merchantName": payload.merchant_name,
        "merchantCity": payload.merchant_city,
    }


def sdk_fields(decoded: dict[str, Any]) -> dict[str, Any]:
    """The SDK's decode result, normalised to our types ('' language = none, numbers as numbers)."""
    result = {key: decoded.get(key) for key in _KEYS}
    result["languagePreference"] = decoded.get("languagePreference") or None
    for key in ("creationTimestamp", "expirationTimestamp"):  # a static QR's 99 may hold other data
        value = decoded.get(key)
        result[key] = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None
    amount = decoded.get("transactionAmount")
    result["transactionAmount"] = None if amount is None else Decimal(amount)
    result["dynamic"] = decoded.get("pointofInitiationMethod") == "12"
    return result


_KEYS = [
    "merchantType",
    "bakongAccountID",
    "accountInformation",
    "merchantID",
    "acquiringBank",
    "billNumber",
    "mobileNumber",
    "storeLabel",
    "terminalLabel",
    "purposeOfTransaction",
    "merchantNameAlternateLanguage",
    "merchantCityAlternateLanguage",
    "merchantCategoryCode",
    "transactionCurrency",
    "merchantName",
    "merchantCity",
]


def compare(sdk: Sdk, batch: list[str]) -> list[tuple[str, str | None]]:
    """Assert agreement for every QR of ``batch``; returns (verdict kind, deliberate reason) per QR."""
    kinds: list[tuple[str, str | None]] = []
    for qr, verdict in zip(batch, sdk.verdicts(batch), strict=True):
        mine = ours(qr)
        if isinstance(mine, KhqrPayload):
            assert verdict["valid"], f"we accept what the SDK refuses ({verdict}): {qr!r}"
            assert decoded_fields(mine) == sdk_fields(verdict["decoded"]), qr
            kinds.append(("both accept", None))
        elif verdict["valid"]:
            reason = deliberate_reason(qr, mine)
            assert reason is not None, f"we refuse what the SDK accepts, not listed as deliberate: {mine}: {qr!r}"
            kinds.append(("deliberate", reason))
        else:
            kinds.append(("both refuse", None))
    return kinds


@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.lists(SEEDS, min_size=BATCH, max_size=BATCH, unique=True))
def test_decoder_agrees_with_the_sdk(sdk: Sdk, seeds: list[int]) -> None:
    compare(sdk, [QrMaker(seed).qr() for seed in seeds])


def test_generated_qrs_cover_every_verdict(sdk: Sdk) -> None:
    # The generator must reach all three outcomes in quantity, or the agreement above says little.
    kinds = Counter(kind for kind, _ in compare(sdk, [QrMaker(seed).qr() for seed in range(400)]))
    assert kinds["both accept"] >= 60 and kinds["both refuse"] >= 200 and kinds["deliberate"] >= 5, kinds


def test_sdk_test_vectors(sdk: Sdk) -> None:
    qrs = [qr for _, _, qr, _ in SDK_VECTORS]
    assert [v["valid"] for v in sdk.verdicts(qrs)] == [valid for *_, valid in SDK_VECTORS]
    compare(sdk, qrs)


@pytest.mark.parametrize(("reason", "example"), [(r, e) for r, _, e in DELIBERATE], ids=range(len(DELIBERATE)))
def test_each_deliberate_difference_is_real(sdk: Sdk, reason: str, example: str) -> None:
    assert sdk.verdicts([example])[0]["valid"], "the SDK accepts the example"
    message = ours(example)
    assert isinstance(message, str), "we refuse it"
    assert deliberate_reason(example, message) == reason


def test_base_qr_is_accepted_by_both(sdk: Sdk) -> None:
    assert compare(sdk, [base()]) == [("both accept", None)]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads(), min_size=5, max_size=5))
def test_encoder_output_is_verified_by_the_sdk(sdk: Sdk, batch: list[KhqrPayload]) -> None:
    qrs = [encode(payload) for payload in batch]
    assert compare(sdk, qrs) == [("both accept", None)] * len(qrs)
