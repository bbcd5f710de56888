"""The lock file scripts/test installs agrees with pyproject.toml's dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "test.lock"


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", LOCK.read_text(), re.M)
    return {canonicalize_name(name): version for name, version in pins}


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in (*project["dependencies"],
                                     *project["optional-dependencies"]["test"])]


def test_every_dependency_is_locked_within_its_range() -> None:
    locked = _locked()
    wrong = [f"{req} (locked: {locked.get(canonicalize_name(req.name))})"
             for req in _declared()
             if canonicalize_name(req.name) not in locked
             or locked[canonicalize_name(req.name)] not in req.specifier]
    assert wrong == [], "run ./scripts/lock and commit requirements/test.lock"


def test_every_pin_has_a_hash() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if "==" in e and "--hash=sha256:" not in e]
    assert unhashed == []
    assert len(entries) >= len(_declared())


def test_scripts_test_installs_the_lock() -> None:
    script = (REPO / "scripts" / "test").read_text()
    assert "--require-hashes -r requirements/test.lock" in script
    assert "--no-deps -e ." in script
    assert "'.[test]'" not in script  # resolving afresh would bypass the lock
