"""Every key of the config schema does something, and its default is written only there.

The top-up keys are shown through the whole box (fake bank down over loopback, fake modem
on a pty, a real SQLite file): `topup_interval` spaces the passes over held orders,
`topup_max_attempts` and `topup_backoff_*` shape their retries.
"""

from __future__ import annotations

import inspect
import re
import threading
import time
import typing
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel

from appliance.config import (
    ModemSettings,
    OutboxSettings,
    Settings,
    load,
)
from appliance.config.rules import RulesSection
from appliance.daemon import Daemon
from appliance.daemon.adapters import build_modem
from appliance.flows.topups import resolve_unknown, submit_pending
from appliance.modem.pool import ModemHandle
from appliance.modem.wrapper import Modem
from appliance.store.models import TopupOrder
from tests.conftest import Box
from tests.helpers import wait_for

PACKAGE = Path(__file__).resolve().parents[1] / "appliance"
DRITA = "+38349234567"  # English replies; "5" tops up her own number

# Keys whose value is read under another name (an enum's or a dataclass's field).
_READ_AS = {"sending_policy": "on_sending"}
# Documented, validated, and read by nothing yet (none now: `rules.alert_limits` is read by
# core.alerts.effective_limit). A key listed here makes wiring it ask for its removal.
_NOT_READ_YET: set[str] = set()


def _leaf_keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        inner = _models_in(info.annotation)
        if not inner or name == "rules":
            keys.add(name)
        for sub in inner:
            keys |= _leaf_keys(sub)
    return keys


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_every_key_is_read_by_the_code_it_configures() -> None:
    """A key that no code outside the config package reads would do nothing at all
    (as `bank.topup_interval` did: only a `getattr` with a default of its own saw it)."""
    code = "\n".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")
                     if "config" not in p.relative_to(PACKAGE).parts[:1])
    keys = (_leaf_keys(Settings) | _leaf_keys(RulesSection)) - {"allowed", "min", "max", "step"}
    unread = sorted(k for k in keys
                    if not re.search(rf"\.{_READ_AS.get(k, k)}\b", code))
    assert unread == sorted(_NOT_READ_YET)


def test_policy_defaults_come_from_the_schema() -> None:
    """The modem's, the outbox's and the top-ups' own defaults were 10 s, 30 s / 30 min
    and a hard-coded 5 min cap; the schema said 30 s, 10 s / 600 s and nothing."""
    modem = ModemSettings(name="m", port="/dev/x", operator="vala")
    assert Modem("/dev/null").command_timeout == modem.command_timeout
    # The top-up flow has no defaults of its own: the daemon passes the schema's.
    empty = inspect.Parameter.empty
    submit = inspect.signature(submit_pending).parameters
    assert [submit[k].default for k in ("max_attempts", "retry_after", "retry_max")] == [
        empty] * 3
    resolve = inspect.signature(resolve_unknown).parameters
    assert [resolve[k].default for k in ("retry_after", "retry_max")] == [empty] * 2


def test_the_daemon_takes_its_policies_from_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(
        '[[modems]]\nname = "m"\nport = "/dev/gsm-m"\noperator = "vala"\ncommand_timeout = 7\n'
        '[outbox]\nmax_attempts = 2\nbackoff_initial = 3\nbackoff_max = 4\n'
        'sending_policy = "fail"\n[bank]\nurl = "https://bank.example"\n', encoding="utf-8")
    settings = load(path)
    daemon = Daemon(settings)
    policy = daemon.outbox_policy
    assert (policy.max_attempts, policy.backoff, policy.backoff_max, policy.on_sending) == (
        2, timedelta(seconds=3), timedelta(seconds=4), "fail")
    modem = build_modem(settings.modems[0], ModemHandle("m", "vala", lambda _h: modem),
                        on_new_message=lambda _h: None, on_status_report=lambda _m, _r: None)
    assert modem.command_timeout == 7.0
    assert OutboxSettings().backoff_initial == 10.0  # what an [outbox]-less file gets


def _order() -> TopupOrder | None:
    return TopupOrder.select().first()


def _attempts() -> int:
    order = _order()
    return int(order.attempts) if order is not None else 0


def _holds(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    """`predicate` stays true for `seconds` (polled; fails at the first moment it is not)."""
    done = threading.Event()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), what
        done.wait(0.05)


def test_topup_interval_spaces_the_passes(make_box: Callable[..., Box]) -> None:
    """The submitter woke every 5 s whatever the key said; now every `topup_interval`."""
    box = make_box(bank={"topup_hold_seconds": 60, "topup_interval": 8,
                         "topup_backoff_initial": 0.1, "topup_max_attempts": 10})
    box.bank.set_fault("down")
    box.deliver(DRITA, "5")
    wait_for(lambda: _attempts() == 1, timeout=15, what="the first attempt")
    order = _order()
    assert order is not None
    assert order.state in ("pending", "submitted")
    # Due again after 0.1 s, but nothing passes over it before the interval is up.
    _holds(lambda: _attempts() == 1, 5.5, "a pass before topup_interval")
    wait_for(lambda: _attempts() == 2, timeout=8, what="the pass after topup_interval")
    box.bank.set_fault("none")
    assert "done" in box.wait_replies(DRITA, 1, timeout=20)[0]


def test_topup_attempts_and_backoff(make_box: Callable[..., Box]) -> None:
    box = make_box(bank={"topup_hold_seconds": 60, "topup_interval": 0.3,
                         "topup_max_attempts": 3, "topup_backoff_initial": 0.1,
                         "topup_backoff_max": 0.15})
    box.bank.set_fault("down")
    box.deliver(DRITA, "5")
    delays: set[float] = set()

    def failed() -> bool:
        order = _order()
        if order is None:
            return False
        if order.next_attempt_at is not None and order.state == "submitted":
            # postponed (still `submitted`, due again at next_attempt_at); during a call
            # next_attempt_at is the previous one, before the claim's updated_at
            delay = (order.next_attempt_at - order.updated_at).total_seconds()
            if delay > 0:
                delays.add(round(delay, 3))
        return str(order.state) == "failed"

    wait_for(failed, timeout=30, interval=0.01, what="the order to fail")
    order = _order()
    assert order is not None
    assert int(order.attempts) == 3  # topup_max_attempts, not the 5 written in topups.py
    assert "try later" in box.wait_replies(DRITA, 1)[0]
    # 0.1 after the first failure, 0.2 capped at 0.15 after the second
    assert delays <= {0.1, 0.15}
    assert 0.15 in delays
