"""clients/js/payhub.js type-checks as TypeScript would (``checkJs``, strict) and its payhub.d.ts
describes what an app writes (tests/clients_js/use.ts compiles, and a status outside the contract
does not). TypeScript is pinned by tests/clients_js/package-lock.json and installed by
``make clients-js`` (a prerequisite of ``make test``). Without it the test skips, except under
``CI=true`` where it fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TSC = ROOT / "tests" / "clients_js" / "node_modules" / ".bin" / "tsc"
OPTIONS = ["--noEmit", "--strict", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler"]
OPTIONS += ["--lib", "es2022,dom"]


def tsc(*args: str) -> subprocess.CompletedProcess[str]:
    if not TSC.exists():
        message = f"{TSC} missing (make clients-js installs TypeScript)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true: not skipping")
        pytest.skip(message)
    return subprocess.run([str(TSC), *OPTIONS, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_module_and_its_declarations_type_check() -> None:
    """One program: the module under checkJs, and use.ts compiled against payhub.d.ts."""
    done = tsc("--skipLibCheck", "--allowJs", "--checkJs", "clients/js/payhub.js", "tests/clients_js/use.ts")
    assert done.returncode == 0, done.stdout + done.stderr
