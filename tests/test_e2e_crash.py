"""Invariants 1, 2 and 5 for real: the daemon (a subprocess) is SIGKILLed at each named
crash point of the inbound and outbound flows with messages waiting in the fake modem;
after a restart every message is answered exactly once (or, for a send interrupted after
the modem took it, as the configured `sending_policy` documents)."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import DaemonProc, Fakes
from tests.helpers import wait_for

ASKS = (("+38344123456", "B"), ("+38345345678", "BK"), ("+38349234567", "B"))


def _db_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db, timeout=5)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def _gone_out(state: object) -> object:
    """`delivered` is `sent` plus the network's report (which the fake modem sends too)."""
    return "sent" if state == "delivered" else state


def _all_answered(fakes: Fakes) -> bool:
    return all(fakes.sent_to(phone) for phone, _ in ASKS)


def _crash_once(fakes: Fakes, dp: DaemonProc, point: str) -> None:
    for phone, text in ASKS:
        fakes.deliver(phone, text)
    dp.start(crash_at=point)
    code = dp.wait_exit(timeout=30)
    assert code == -signal.SIGKILL, f"daemon did not die at {point} (exit {code})"
    log = dp.log_file.read_text(encoding="utf-8")
    assert f"crash point {point} reached" in log


@pytest.mark.parametrize("point", ["after_read", "after_store", "after_delete", "after_decide"])
def test_kill_at_each_inbound_step_answers_every_message_exactly_once(
        fakes: Fakes, daemon_proc: DaemonProc, point: str) -> None:
    fakes.config()
    _crash_once(fakes, daemon_proc, point)
    daemon_proc.start()
    wait_for(lambda: _all_answered(fakes), timeout=30, what="every message answered")
    db = fakes.tmp / "appliance.sqlite"
    wait_for(lambda: _db_rows(db, "SELECT COUNT(*) FROM inbound_message "
                                  "WHERE state = 'handled'")[0][0] == len(ASKS),
             timeout=10, what="every inbound row handled")
    assert daemon_proc.stop() == 0
    for phone, _ in ASKS:
        assert len(fakes.sent_to(phone)) == 1, f"{point}: {phone[:6]}… answered twice"
    # Nothing is left that could be answered again: the modem's storage is empty and every
    # inbound row is decided, with one reply row each.
    assert fakes.modem.stored() == [], "a message was left on the modem"
    replies = _db_rows(db, "SELECT state FROM outbox_message WHERE kind != 'alert'")
    assert [_gone_out(r[0]) for r in replies] == ["sent"] * len(ASKS)


def test_kill_between_sending_and_modem_resends_by_policy(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    fakes.config(outbox={"sending_policy": "resend"})
    _crash_once(fakes, daemon_proc, "after_sending")
    assert fakes.sent() == []  # killed before AT+CMGS: nothing went out
    daemon_proc.start()
    wait_for(lambda: _all_answered(fakes), timeout=30, what="every message answered")
    assert daemon_proc.stop() == 0
    for phone, _ in ASKS:
        assert len(fakes.sent_to(phone)) == 1
    log = daemon_proc.log_file.read_text(encoding="utf-8")
    assert "was interrupted while sending: resending it" in log


@pytest.mark.parametrize("policy", ["resend", "fail"])
def test_kill_after_modem_took_it_follows_the_sending_policy(
        fakes: Fakes, daemon_proc: DaemonProc, policy: str) -> None:
    fakes.config(outbox={"sending_policy": policy})
    _crash_once(fakes, daemon_proc, "after_submit")
    first = fakes.sent()
    assert len(first) == 1  # the modem took exactly one message before the kill
    victim = first[0].to
    daemon_proc.start()
    wait_for(lambda: _all_answered(fakes), timeout=30, what="every message answered")
    db = fakes.tmp / "appliance.sqlite"
    wait_for(lambda: _db_rows(db, "SELECT COUNT(*) FROM outbox_message "
                                  "WHERE state IN ('queued', 'sending')")[0][0] == 0,
             timeout=10, what="an empty queue")
    assert daemon_proc.stop() == 0
    log = daemon_proc.log_file.read_text(encoding="utf-8")
    states = sorted(_gone_out(r[0]) for r in _db_rows(db, "SELECT state FROM outbox_message"))
    if policy == "resend":
        # At least once: the interrupted message is sent again, and says so in the log.
        assert len(fakes.sent_to(victim)) == 2
        assert "resending it (policy resend" in log
        assert states == ["sent"] * len(ASKS)
    else:
        assert len(fakes.sent_to(victim)) == 1
        assert "marked failed (policy fail" in log
        assert states == ["failed", "sent", "sent"]
    for phone, _ in ASKS:
        if phone != victim:
            assert len(fakes.sent_to(phone)) == 1
