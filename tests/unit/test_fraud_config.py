"""The fraud rules' configuration and the blocklist's values: what operators write, and what is refused."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.blocklist import BlockEntry, BlockKind, canonical_value, device_id
from hub.errors import BadRequest, ConfigError, InvalidInput
from hub.fraud.blocklist import parse_new_entry
from hub.fraud.rules import DEFAULT_RULES, AmountRule, VelocityRule, load_rules, parse_rules
from hub.json_codec import dumps
from hub.settings import Settings

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_the_defaults_are_valid_and_named_as_documented() -> None:
    rules = load_rules()
    assert len(rules.rules) == len(DEFAULT_RULES)
    documented = Path(__file__).resolve().parents[2].joinpath("docs", "operations.md").read_text()
    for name in rules.names():
        assert f"`{name}`" in documented, name


def test_rules_from_the_environment_or_a_file(tmp_path: Path) -> None:
    text = '[{"kind":"velocity","name":"qr-ip","surfaces":["qr"],"subject":"ip","limit":5,"window_s":60}]'
    (tmp_path / "rules.json").write_text(text)
    for rules in (load_rules(text), load_rules(path=str(tmp_path / "rules.json"))):
        (rule,) = rules.rules
        assert isinstance(rule, VelocityRule) and (rule.limit, rule.window_s, rule.action) == (5, 60, "block")
    assert load_rules("[]").rules == ()
    settings = Settings.from_env({"PAYHUB_FRAUD_RULES_FILE": str(tmp_path / "rules.json")})
    assert settings.fraud_rules_file.endswith("rules.json")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{", "PAYHUB_FRAUD_RULES"),
        ('{"kind":"velocity"}', "valid list"),
        ('[{"kind":"nope","name":"x","surfaces":["qr"]}]', "kind"),
        ('[{"kind":"velocity","name":"Bad Name","surfaces":["qr"],"subject":"ip","limit":1,"window_s":1}]', "name"),
        ('[{"kind":"velocity","name":"a","surfaces":["qr"],"subject":"ip","limit":0,"window_s":1}]', "limit"),
        ('[{"kind":"velocity","name":"a","surfaces":["qr"],"subject":"ip","limit":1,"window_s":1.5}]', "window_s"),
        ('[{"kind":"velocity","name":"a","surfaces":["atm"],"subject":"ip","limit":1,"window_s":1}]', "surfaces"),
        ('[{"kind":"velocity","name":"a","surfaces":["qr","qr"],"subject":"ip","limit":1,"window_s":1}]', "twice"),
        ('[{"kind":"velocity","name":"a","surfaces":[],"subject":"ip","limit":1,"window_s":1}]', "surfaces"),
        ('[{"kind":"velocity","name":"a","surfaces":["qr"],"subject":"card","limit":1,"window_s":1}]', "subject"),
        ('[{"kind":"velocity","name":"a","surfaces":["qr"],"subject":"ip","limit":1,"window_s":1,"x":1}]', "x"),
        ('[{"kind":"amount","name":"a","surfaces":["qr"],"factor":1}]', "factor"),
        ('[{"kind":"amount","name":"a","surfaces":["qr"],"factor":2,"min_history":5,"history":3}]', "history"),
        ('[{"kind":"quote","name":"a","surfaces":["qr"]}]', "surfaces"),
        ('[{"kind":"quote","name":"a"},{"kind":"quote","name":"a"}]', "unique"),
    ],
)
def test_a_bad_rule_set_refuses_to_start_naming_the_variable(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_rules(text)
    assert info.value.message.startswith("PAYHUB_FRAUD_RULES") and says in info.value.message
    with pytest.raises(ConfigError) as startup:
        Settings.from_env({"PAYHUB_FRAUD_RULES": text})
    assert any(str(p).startswith("PAYHUB_FRAUD_RULES") for p in startup.value.details)


def test_too_many_rules_or_both_sources_are_refused(tmp_path: Path) -> None:
    many = [{"kind": "quote", "name": f"q{i}"} for i in range(65)]
    with pytest.raises(ConfigError, match="at most 64"):
        load_rules(dumps(many))
    with pytest.raises(ConfigError, match="not both"):
        load_rules("[]", str(tmp_path / "x.json"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(path=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError):
        Settings.from_env({"PAYHUB_FRAUD_BLOCKLIST_CACHE_S": "-1"})


def test_amount_factor_is_exact() -> None:
    (rule,) = parse_rules([{"kind": "amount", "name": "a", "surfaces": ["qr"], "factor": "2.5"}]).rules
    assert isinstance(rule, AmountRule) and str(rule.factor) == "2.5"
    assert (rule.min_history, rule.history, rule.action) == (3, 12, "flag")


def test_webhooks_are_never_blocked_whatever_the_action() -> None:
    rules = parse_rules(
        [{"kind": "velocity", "name": "v", "surfaces": ["inquiry", "webhook"], "subject": "policy", "limit": 1,
          "window_s": 1, "action": "block"}]
    )  # fmt: skip
    (rule,) = rules.rules
    assert rule.blocks_on("inquiry") and not rule.blocks_on("webhook")


# --- blocklist values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        (BlockKind.POLICY, " p123456789 ", "P123456789"),
        (BlockKind.CUSTOMER, "auth0|abc", "auth0|abc"),
        (BlockKind.IP, "10.1.2.3", "10.1.2.3"),
        (BlockKind.IP, "10.1.2.3/16", "10.1.0.0/16"),
        (BlockKind.IP, "10.1.2.3/32", "10.1.2.3"),
        (BlockKind.IP, "::ffff:10.1.2.3", "10.1.2.3"),
        (BlockKind.IP, "::ffff:10.1.0.0/112", "10.1.0.0/16"),
        (BlockKind.IP, "2001:DB8:0:0::1", "2001:db8::1"),
        (BlockKind.DEVICE, "3f1c-AB_9.x:1", "3f1c-AB_9.x:1"),
    ],
)
def test_values_are_stored_in_one_canonical_form(kind: BlockKind, raw: str, stored: str) -> None:
    assert canonical_value(kind, raw) == stored


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (BlockKind.POLICY, "P12345678901"),
        (BlockKind.POLICY, "P-1"),
        (BlockKind.POLICY, ""),
        (BlockKind.CUSTOMER, "has space"),
        (BlockKind.CUSTOMER, "x" * 129),
        (BlockKind.IP, "10.1.2.300"),
        (BlockKind.IP, "example.com"),
        (BlockKind.IP, "10.0.0.0/33"),
        (BlockKind.DEVICE, "dev/1"),
        (BlockKind.DEVICE, "d" * 129),
        (BlockKind.DEVICE, 12),
    ],
)
def test_values_that_are_not_of_their_kind_are_refused(kind: BlockKind, raw: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        canonical_value(kind, raw)
    assert info.value.status_code == 400 and info.value.details[0]["field"] == "value"


@given(st.ip_addresses(), st.integers(0, 128))
def test_an_ip_entry_bars_exactly_the_addresses_of_its_network(address: Any, prefix: int) -> None:
    prefix = min(prefix, address.max_prefixlen)
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    entry = BlockEntry(1, BlockKind.IP, canonical_value(BlockKind.IP, str(network)), "r", "ops", NOW)
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    if not mapped or prefix >= 96:  # an IPv6 network wider than ::ffff:0:0/96 names no IPv4 client
        assert entry.matches(BlockKind.IP, str(address))
    if int(network.broadcast_address) < 2**address.max_prefixlen - 1:
        outside = network.broadcast_address + 1
        if not (isinstance(outside, ipaddress.IPv6Address) and outside.ipv4_mapped is not None):
            assert not entry.matches(BlockKind.IP, str(outside))
    assert not entry.matches(BlockKind.DEVICE, str(address))


def test_device_ids_are_bounded() -> None:
    assert device_id(None) is None and device_id("") is None
    assert device_id("A" * 128) == "A" * 128
    for bad in ("A" * 129, "a b", "é", "a\nb", "<script>"):
        with pytest.raises(InvalidInput) as info:
            device_id(bad)
        assert info.value.details == [{"field": "X-Device-Id", "message": "1-128 characters of A-Z a-z 0-9 . _ : -"}]


def test_a_new_entry_lists_every_bad_field() -> None:
    with pytest.raises(BadRequest) as info:
        parse_new_entry({"kind": "card", "reason": " ", "expiresAt": "tomorrow", "extra": 1}, NOW)
    assert {p["field"] for p in info.value.details} == {"extra", "kind", "reason", "expiresAt"}
    with pytest.raises(BadRequest) as info:
        parse_new_entry({"kind": "ip", "value": "nope", "reason": "x", "expiresAt": "2026-12-01T00:00:00"}, NOW)
    assert {p["field"] for p in info.value.details} == {"value", "expiresAt"}
    with pytest.raises(BadRequest) as info:
        parse_new_entry({"kind": "ip", "value": "10.0.0.1", "reason": "x", "expiresAt": NOW.isoformat()}, NOW)
    assert info.value.details == [{"field": "expiresAt", "message": "must be in the future"}]
    entry = parse_new_entry(
        {"kind": "policy", "value": "p1", "reason": " chargeback ", "expiresAt": "2026-12-01T10:00:00+07:00"}, NOW
    )
    assert (entry.kind, entry.value, entry.reason) == (BlockKind.POLICY, "P1", "chargeback")
    assert entry.expires_at == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert parse_new_entry({"kind": "device", "value": "d1", "reason": "r"}, NOW).expires_at is None


def test_an_entry_is_active_until_removed_or_expired() -> None:
    entry = BlockEntry(1, BlockKind.POLICY, "P1", "r", "ops", NOW, expires_at=NOW + timedelta(seconds=1))
    assert entry.active_at(NOW) and not entry.active_at(NOW + timedelta(seconds=1))
    removed = BlockEntry(1, BlockKind.POLICY, "P1", "r", "ops", NOW, removed_at=NOW, removed_by="ops")
    assert not removed.active_at(NOW - timedelta(days=1))


@pytest.mark.parametrize("expires", ["9999-12-31T23:59:59-05:00", "9999-12-31T20:00:00-14:00"])
def test_an_expiry_past_what_a_datetime_holds_is_refused_not_a_crash(expires: str) -> None:
    # Found by breaking it: the conversion to UTC overflowed (a 500 from the admin API, a CLI traceback).
    with pytest.raises(BadRequest) as info:
        parse_new_entry({"kind": "policy", "value": "P1", "reason": "x", "expiresAt": expires}, NOW)
    assert [p["field"] for p in info.value.details] == ["expiresAt"]
