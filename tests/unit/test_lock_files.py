"""The lock files pin, with hashes, everything pyproject.toml asks for (drift fails CI).

``make run`` installs ``requirements/runtime.lock``, ``make test`` (and so CI) ``requirements/dev.lock``,
both with ``pip install --require-hashes`` and then PayHub itself with ``--no-deps --no-build-isolation``.
So each lock must hold, pinned with ``==`` and at least one hash, a version that satisfies:

* every ``[project.dependencies]`` entry and every ``[build-system] requires`` entry (both locks);
* every entry of each extra the Makefile installs (the ``--extra`` names of ``make lock``: dev.lock);
* what the extras named inside those entries bring (``uvicorn[standard]`` → uvloop, httptools, …), read
  from the installed distributions' own metadata, for the markers of this interpreter and platform.

The runtime lock pins nothing the dev lock pins differently, and holds no test tool.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements" / "runtime.lock"
DEV = ROOT / "requirements" / "dev.lock"
BENCH = ROOT / "requirements" / "bench.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: int


def read_lock(path: Path) -> dict[str, Pin]:
    """``name -> Pin`` of a ``uv pip compile --generate-hashes`` file; refuses lines it cannot read."""
    pins: dict[str, Pin] = {}
    current: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line.startswith((" ", "\t")):
            assert stripped.startswith("--hash=sha256:"), f"{path.name}:{number}: unexpected {stripped!r}"
            assert current is not None, f"{path.name}:{number}: a hash before any pin"
            pin = pins[current]
            pins[current] = Pin(pin.name, pin.version, pin.marker, pin.hashes + 1)
            continue
        match = _PIN.match(line)
        assert match, f"{path.name}:{number}: not a `name==version [; marker] \\` pin: {line!r}"
        current = canonicalize_name(match[1])
        assert current not in pins, f"{path.name}:{number}: {current} pinned twice"
        pins[current] = Pin(current, match[2], match[3], 0)
    return pins


def make_lock_extras(lock: str = "$(DEV_LOCK)") -> list[str]:
    """The extras ``make lock`` compiles into ``lock`` (``--extra NAME`` on the line writing ``-o lock``)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = makefile[makefile.index("\nlock:") :].split("\n\n")[0]
    line = next(line for line in rule.splitlines() if line.rstrip().endswith(f"-o {lock}"))
    return re.findall(r"--extra\s+([A-Za-z0-9_-]+)", line)


def required(requirements: list[str]) -> list[Requirement]:
    """``requirements`` and, recursively, what the extras they name bring (installed metadata), for the
    markers of this interpreter and platform."""
    env = default_environment()
    out: list[Requirement] = []
    todo = [(Requirement(r), "") for r in requirements]
    seen: set[tuple[str, str]] = set()
    while todo:
        req, via_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": via_extra}):
            continue
        out.append(req)
        for extra in sorted(req.extras):
            if (canonicalize_name(req.name), extra) in seen:
                continue
            seen.add((canonicalize_name(req.name), extra))
            for text in installed_requires(req.name):
                sub = Requirement(text)
                if sub.marker is not None and not sub.marker.evaluate({**env, "extra": ""}):
                    todo.append((sub, extra))  # brought by the extra (or not at all, checked when popped)
    return out


def installed_requires(name: str) -> list[str]:
    """The requirements in ``name``'s installed metadata; none when it is not installed (a dependency
    pyproject.toml gained since this environment was made: the lock check reports it as not pinned)."""
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []


def missing_or_wrong(lock: dict[str, Pin], requirements: list[Requirement]) -> list[str]:
    problems = []
    for req in requirements:
        pin = lock.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is not pinned")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req} but the lock pins {pin.version}")
    return problems


RUNTIME_REQUIREMENTS = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]


def test_the_makefile_installs_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes -r $(RUNTIME_LOCK)" in makefile
    assert "--require-hashes -r $(DEV_LOCK)" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    assert "--require-hashes -r $(BENCH_LOCK)" in makefile
    assert make_lock_extras() == ["dev", "otel"]
    assert make_lock_extras("$(BENCH_LOCK)") == ["bench"]


@pytest.mark.parametrize("lock_path", [RUNTIME, DEV, BENCH], ids=["runtime", "dev", "bench"])
def test_every_pin_is_exact_and_hashed(lock_path: Path) -> None:
    lock = read_lock(lock_path)
    assert lock, f"{lock_path.name} pins nothing"
    assert [p.name for p in lock.values() if p.hashes == 0] == []
    assert "payhub" not in lock  # PayHub itself is installed from the checkout


def test_runtime_lock_pins_every_runtime_dependency() -> None:
    assert missing_or_wrong(read_lock(RUNTIME), required(RUNTIME_REQUIREMENTS)) == []


def test_dev_lock_pins_the_runtime_and_every_extra_make_installs() -> None:
    extras = [r for name in make_lock_extras() for r in PYPROJECT["project"]["optional-dependencies"][name]]
    assert missing_or_wrong(read_lock(DEV), required([*RUNTIME_REQUIREMENTS, *extras])) == []


def test_bench_lock_pins_the_runtime_and_the_bench_extra_as_the_dev_lock_does() -> None:
    """``make bench`` installs the bench lock over a dev environment: shared pins must agree. Checked against
    pyproject.toml's names and bounds (the bench extra's own dependencies need not be installed here)."""
    bench, dev = read_lock(BENCH), read_lock(DEV)
    extras = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["bench"]]
    assert missing_or_wrong(bench, [*required(RUNTIME_REQUIREMENTS), *extras]) == []
    assert {n: p.version for n, p in bench.items() if n in dev and dev[n].version != p.version} == {}


def test_runtime_pins_match_the_dev_lock_and_hold_no_test_tool() -> None:
    runtime, dev = read_lock(RUNTIME), read_lock(DEV)
    assert {n: p.version for n, p in runtime.items() if dev.get(n) is None or dev[n].version != p.version} == {}
    dev_only = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert sorted((dev_only - closure(RUNTIME_REQUIREMENTS)) & set(runtime)) == []
    assert {"pytest", "hypothesis", "mypy", "ruff", "playwright"} <= dev_only


def closure(requirements: list[str]) -> set[str]:
    """Every distribution ``requirements`` bring on this interpreter, by the installed metadata."""
    env = default_environment()
    names: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in names:
            continue
        names.update({name, key})
        for wanted in ("", *sorted(req.extras)):
            todo += [(Requirement(text), wanted) for text in installed_requires(req.name)]
    return {n for n in names if "[" not in n}


def test_a_drifted_pyproject_is_caught() -> None:
    """The check itself can fail: a new dependency, and a bound the pin no longer meets."""
    lock = read_lock(RUNTIME)
    assert missing_or_wrong(lock, [Requirement("not-a-payhub-dependency>=3")]) == [
        "not-a-payhub-dependency>=3 is not pinned"
    ]
    pinned = lock["starlette"].version
    assert missing_or_wrong(lock, [Requirement(f"starlette>{pinned}")]) == [
        f"starlette>{pinned} but the lock pins {pinned}"
    ]
    extra = required(["uvicorn[standard]>=0.30"])
    assert {"uvloop", "httptools", "watchfiles"} <= {canonicalize_name(r.name) for r in extra}
