"""The layering of DESIGN.md §8, checked on the source: a wrong import fails here first.

- the core does no I/O (invariant I6): it imports only the standard library's pure parts
  and itself;
- the flows (the use cases) import the core, the store and their ports, never an adapter
  (modem, bank, the daemon's wiring, a serial port, an HTTP client);
- the adapters (`modem/`, `bank/`) import neither the store nor the flows;
- the store knows no modem and no bank (nor the flows or the daemon);
- the fake modem and our modem layer share nothing but 3GPP, so that each checks the other;
- nothing imports gsmtermlib (it needs a tty at import).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "appliance"

# Standard-library modules that touch the outside world: the core must not use them.
IO_MODULES = {
    "os", "io", "socket", "subprocess", "threading", "time", "sqlite3", "pathlib", "shutil",
    "select", "signal", "tempfile", "logging", "urllib", "http", "asyncio", "random",
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-node.level]
            found.add(".".join((*package, node.module or "")).rstrip("."))
    return found


def modules_in(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


@pytest.mark.parametrize("path", modules_in("core"), ids=lambda p: p.name)
def test_core_imports_nothing_with_io(path: Path) -> None:
    for name in imports_of(path):
        top = name.split(".")[0]
        if top == "appliance":
            assert name.startswith("appliance.core"), f"{path.name} imports {name}"
            continue
        assert top in sys.stdlib_module_names, f"{path.name} imports third-party {name}"
        assert top not in IO_MODULES, f"{path.name} imports {name}: the core does no I/O"


@pytest.mark.parametrize("path", modules_in("store"), ids=lambda p: p.name)
def test_store_knows_no_modem_and_no_bank(path: Path) -> None:
    for name in imports_of(path):
        assert not name.startswith(("appliance.modem", "appliance.bank", "appliance.fakemodem",
                                    "appliance.fakebank", "appliance.daemon", "appliance.flows",
                                    "gsmmodem", "serial", "httpx")), \
            f"{path.name} imports {name}"


# What the use cases may import of ours: the core, the store, and each other (the ports).
FLOWS_MAY_IMPORT = ("appliance.core", "appliance.store", "appliance.flows")
# Third-party packages that are adapters' business (a serial port, HTTP, a modem library).
ADAPTER_LIBRARIES = {"serial", "gsmmodem", "httpx", "werkzeug", "apscheduler", "click"}


@pytest.mark.parametrize("path", modules_in("flows"), ids=lambda p: p.name)
def test_flows_import_only_the_core_the_store_and_their_ports(path: Path) -> None:
    for name in imports_of(path):
        top = name.split(".")[0]
        if top == "appliance":
            assert name.startswith(FLOWS_MAY_IMPORT), f"{path.name} imports {name}"
        else:
            assert top not in ADAPTER_LIBRARIES, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", modules_in("modem") + modules_in("bank"),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_adapters_import_neither_the_store_nor_the_flows(path: Path) -> None:
    for name in imports_of(path):
        assert not name.startswith(("appliance.store", "appliance.flows", "appliance.daemon",
                                    "peewee")), f"{path.parent.name}/{path.name} imports {name}"


def test_the_rules_themselves_can_fail() -> None:
    """The checks above see the imports they must: a flow's, an adapter's."""
    assert "appliance.store.outbox" in imports_of(PACKAGE / "flows" / "outbound.py")
    assert "appliance.modem.errors" in imports_of(PACKAGE / "daemon" / "adapters.py")
    assert "appliance.modem.pdu" in imports_of(PACKAGE / "modem" / "pool.py")


# No module of ours is a big room (issue 11 item 7), in the parts the flows engineer owns.
OWN_ROOMS = ("flows", "daemon", "store")


@pytest.mark.parametrize("path", [p for d in OWN_ROOMS for p in modules_in(d)],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.parent.name}/{path.name} has {lines} lines"


@pytest.mark.parametrize("path", modules_in("fakemodem"), ids=lambda p: p.name)
def test_fake_modem_shares_nothing_with_the_modem_layer(path: Path) -> None:
    for name in imports_of(path):
        assert not name.startswith(("appliance.modem", "gsmmodem", "appliance.core")), \
            f"{path.name} imports {name}"


@pytest.mark.parametrize("path", modules_in("modem"), ids=lambda p: p.name)
def test_modem_layer_does_not_use_the_fake(path: Path) -> None:
    for name in imports_of(path):
        assert not name.startswith("appliance.fakemodem"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.name))
def test_nothing_imports_gsmtermlib(path: Path) -> None:
    assert not any(n.startswith("gsmtermlib") for n in imports_of(path)), path


def test_the_checks_see_imports() -> None:
    # Guards the guard: the parser must find imports in a module that has them.
    assert "appliance.core.rules" in imports_of(PACKAGE / "config" / "rules.py")
    assert "gsmmodem" in imports_of(PACKAGE / "modem" / "gsmlib.py")
    assert "appliance.core.rules" in imports_of(PACKAGE / "core" / "commands.py")


# The one place allowed explicit `Any` (issue 11): the store's peewee boundary.
ANY_ALLOWED_PREFIXES = ("appliance.store",)


def test_explicit_any_is_exempted_only_for_the_store() -> None:
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    mypy = config["tool"]["mypy"]
    assert mypy["disallow_any_explicit"] is True
    exempted: list[str] = []
    for override in mypy.get("overrides", []):
        if override.get("disallow_any_explicit") is False:
            modules = override["module"]
            exempted.extend([modules] if isinstance(modules, str) else modules)
    assert exempted, "the store's boundary should still be listed"
    outside = [m for m in exempted
               if not any(m == p or m.startswith(p + ".") for p in ANY_ALLOWED_PREFIXES)]
    assert outside == [], f"explicit Any exempted outside the store: {outside}"


def test_no_module_outside_the_store_imports_any() -> None:
    # mypy's flag catches `Any` in annotations; this also catches `cast(Any, …)` and an
    # import kept for a later use, outside the store's boundary.
    offenders = [str(path.relative_to(PACKAGE.parent)) for path in PACKAGE.rglob("*.py")
                 if "store" not in path.relative_to(PACKAGE).parts
                 and re.search(r"^from typing import .*\bAny\b|^import typing\b|typing\.Any",
                               path.read_text(encoding="utf-8"), re.MULTILINE)]
    assert offenders == []
