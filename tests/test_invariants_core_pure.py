"""Invariant 6: the core does no I/O and reads no clock (found missing by mutation testing).

Two guards: the source of every module in `appliance.core` imports nothing that does I/O
and never asks for the time of day (the caller passes `now`); and at run time a Python audit
hook sees no file, socket, database or process event while the core parses, decides,
formats alerts, reassembles parts and masks text. The hook is process-wide but only
records while this thread has switched it on, so it is harmless to other tests.
"""

from __future__ import annotations

import ast
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import appliance.core
from appliance.core import commands, concat, decide, masking
from appliance.core.alerts import alert_text
from appliance.core.rules import Language, Rules
from appliance.core.views import AccountView, AgreementView, MovementView, SenderView

CORE = Path(appliance.core.__file__).parent
MODULES = sorted(CORE.glob("*.py"))
ALLOWED_IMPORTS = {
    "__future__", "collections", "dataclasses", "datetime", "decimal", "enum", "functools",
    "re", "typing", "unicodedata", "zoneinfo", "appliance",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}
IO_NAMES = {"open", "print", "input", "exec", "eval", "__import__"}
T0 = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)  # far from the real date: a clock read shows


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_modules_import_nothing_that_does_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in ALLOWED_IMPORTS, f"{path.name}: imports {name}"
            if top == "appliance":
                assert name.startswith("appliance.core"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_modules_read_no_clock_and_call_no_io_builtin(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            assert func.attr not in CLOCK_CALLS, (
                f"{path.name}:{node.lineno} reads the clock (.{func.attr}()): pass `now` in")
        elif isinstance(func, ast.Name):
            assert func.id not in IO_NAMES, f"{path.name}:{node.lineno} calls {func.id}()"


# --- at run time ---------------------------------------------------------------------

_WATCH = threading.local()
_IO_EVENTS = ("open", "socket.", "sqlite3.", "subprocess.", "os.system", "os.exec",
              "os.spawn", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.mkdir",
              "shutil.", "urllib.", "http.client.", "time.sleep")


def _hook(event: str, _args: tuple[Any, ...]) -> None:
    seen = getattr(_WATCH, "events", None)
    if seen is not None and event.startswith(_IO_EVENTS):
        seen.append(event)


_INSTALLED = False


def _watching() -> list[str]:
    global _INSTALLED
    if not _INSTALLED:
        sys.addaudithook(_hook)
        _INSTALLED = True
    events: list[str] = []
    _WATCH.events = events
    return events


def _exercise(rules: Rules) -> list[object]:
    agreement = AgreementView(id="G1", phone="+38344123456", customer_id="C1",
                              language=Language.EN, alert_limit=Decimal(500))
    current = AccountView(id="A1", kind="current", number="1110000100012345",
                          balance=Decimal("1234.56"), as_of=T0 - timedelta(hours=2))
    savings = AccountView(id="A2", kind="savings", number="1110000100054321",
                          balance=Decimal("10.00"), as_of=T0)
    sender = SenderView(agreement=agreement, accounts=(current, savings), last_sync_at=T0,
                        topups_today_count=4, topups_today_amount=Decimal(45))
    out: list[object] = []
    for text in ("B", "BK", "044111222 5", "049123456 51", "5", "Internet drita.g 15", "x"):
        parsed = commands.parse(text, rules)
        out.append(parsed)
        out.append(decide.decide(parsed, sender, T0, rules))
        out.append(decide.decide(parsed, None, T0, rules))
    out.append(decide.topup_outcome_text("done", None, Decimal(5), "+38344111222",
                                         Decimal("12.50"), Language.SQ, rules))
    movement = MovementView(id="M1", account_id="A1", amount=Decimal(-700), type="POS",
                            booked_at=T0 - timedelta(days=3), balance_after=Decimal(534))
    out.append(alert_text(movement, agreement, current, rules, T0))
    out.append(concat.reassemble([concat.Part(1, "+38344123456", 7, 2, 1, "B", T0)],
                                 T0 + timedelta(minutes=20), timedelta(minutes=10)))
    out.append(masking.mask_text("to +38344123456 from 1110000100012345"))
    return out


def test_the_core_does_no_io_while_deciding() -> None:
    rules = Rules()
    warm = _exercise(rules)  # first use may load time-zone data: not the core's doing
    events = _watching()
    try:
        again = _exercise(rules)
    finally:
        _WATCH.events = None
    assert events == [], f"the core did I/O: {sorted(set(events))}"
    # A function of its inputs: the same inputs give the same answers.
    assert again == warm
