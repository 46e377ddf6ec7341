"""``payhub blocklist list|add|remove`` as an operator runs it, against the database a running
``payhub run`` reads: an entry added from the command line bars a customer, removed it lets them pass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.e2e.payhub_process import PAYHUB, start_server


def payhub(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PAYHUB), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=30)


def test_the_blocklist_from_the_command_line(tmp_path: Path) -> None:
    server = start_server(tmp_path, PAYHUB_FRAUD_BLOCKLIST_CACHE_S="0")
    try:
        env, token = server.env, server.token("customer", sub="mallory")

        def inquire() -> httpx.Response:
            return httpx.get(
                f"{server.url}/AMK/payments",
                params={"query": "P123456789"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )

        added = payhub(
            "blocklist", "add", "--kind", "customer", "--value", "mallory", "--reason", "card testing",
            "--ttl", "3600", "--by", "ops-cli", env=env, cwd=tmp_path,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        entry = json.loads(added.stdout)
        assert (entry["kind"], entry["value"], entry["addedBy"], entry["active"]) == (
            "customer",
            "mallory",
            "ops-cli",
            True,
        )
        assert entry["expiresAt"] is not None
        blocked = inquire()
        assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "FRAUD_DETECTED"

        listed = payhub("blocklist", "list", env=env, cwd=tmp_path)
        assert listed.returncode == 0 and [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [
            entry["id"]
        ]
        assert "1 entry" in listed.stderr

        removed = payhub("blocklist", "remove", str(entry["id"]), env=env, cwd=tmp_path)
        assert removed.returncode == 0, removed.stderr
        assert json.loads(removed.stdout)["removedBy"].startswith("cli")
        assert inquire().status_code == 200
        again = payhub("blocklist", "remove", str(entry["id"]), env=env, cwd=tmp_path)
        assert again.returncode == 1 and "No blocklist entry" in again.stderr
        everything = payhub("blocklist", "list", "--all", env=env, cwd=tmp_path)
        assert [json.loads(line)["active"] for line in everything.stdout.splitlines()] == [False]

        bad = payhub(
            "blocklist", "add", "--kind", "ip", "--value", "10.0.0.300", "--reason", "x", env=env, cwd=tmp_path
        )
        assert bad.returncode == 2 and "value" in bad.stderr
        past = payhub(
            "blocklist", "add", "--kind", "ip", "--value", "10.0.0.3", "--reason", "x",
            "--expires", "2000-01-01T00:00:00Z", env=env, cwd=tmp_path,
        )  # fmt: skip
        assert past.returncode == 2 and "expiresAt" in past.stderr
        # Found by breaking it: numbers past what a date or a BIGINT holds were tracebacks.
        for args in (
            ("add", "--kind", "ip", "--value", "10.0.0.3", "--reason", "x", "--ttl", "999999999999"),
            ("add", "--kind", "ip", "--value", "10.0.0.3", "--reason", "x", "--expires", "9999-12-31T23:59:59-05:00"),
            ("remove", "99999999999999999999"),
        ):
            huge = payhub("blocklist", *args, env=env, cwd=tmp_path)
            assert huge.returncode in (1, 2) and "Traceback" not in huge.stderr, huge.stderr
            assert huge.stderr.startswith("payhub"), huge.stderr
    finally:
        server.stop()
