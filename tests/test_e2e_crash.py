"""Invariants 1, 2 and 5 for real: the daemon (a subprocess) is SIGKILLed at each named
crash point of the inbound and outbound flows with messages waiting in the fake modem;
after a restart every message is answered exactly once (or, for a send interrupted after
the modem took it, as the configured `sending_policy` documents)."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import STORES, DaemonProc, Fakes
from tests.helpers import db_rows, wait_for

ASKS = (("+38344123456", "B"), ("+38345345678", "BK"), ("+38349234567", "B"))
# Every crash point on both databases: recovery is the store's (DESIGN §10).
pytestmark = pytest.mark.parametrize("store_kind", STORES, indirect=True)



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
    db = fakes.store
    wait_for(lambda: db_rows(db, "SELECT COUNT(*) FROM inbound_message "
                                  "WHERE state = 'handled'")[0][0] == len(ASKS),
             timeout=10, what="every inbound row handled")
    assert daemon_proc.stop() == 0
    for phone, _ in ASKS:
        assert len(fakes.sent_to(phone)) == 1, f"{point}: {phone[:6]}… answered twice"
    # Nothing is left that could be answered again: the modem's storage is empty and every
    # inbound row is decided, with one reply row each.
    assert fakes.modem.stored() == [], "a message was left on the modem"
    replies = db_rows(db, "SELECT state FROM outbox_message WHERE kind != 'alert'")
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
    assert "was interrupted before its PDU was written: resending it" in log
    db = fakes.store
    states = [_gone_out(r[0]) for r in db_rows(db, "SELECT state FROM outbox_message")]
    assert states == ["sent"] * len(ASKS)


@pytest.mark.parametrize("policy", ["resend", "fail"])
def test_kill_after_modem_took_it_follows_the_sending_policy(
        fakes: Fakes, daemon_proc: DaemonProc, policy: str) -> None:
    # No grace: the policy applies at once (a grace period is tested below).
    fakes.config(outbox={"sending_policy": policy, "sending_grace": 0})
    _crash_once(fakes, daemon_proc, "after_submit")
    first = fakes.sent()
    assert len(first) == 1  # the modem took exactly one message before the kill
    victim = first[0].to
    daemon_proc.start()
    wait_for(lambda: _all_answered(fakes), timeout=30, what="every message answered")
    db = fakes.store
    wait_for(lambda: db_rows(db, "SELECT COUNT(*) FROM outbox_message "
                                  "WHERE state IN ('queued', 'sending')")[0][0] == 0,
             timeout=10, what="an empty queue")
    assert daemon_proc.stop() == 0
    log = daemon_proc.log_file.read_text(encoding="utf-8")
    states = sorted(_gone_out(r[0]) for r in db_rows(db, "SELECT state FROM outbox_message"))
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


def _replace_modem(fakes: Fakes, *, reports: bool, time_scale: float = 1.0) -> None:
    """The fixture's fake modem, swapped for one with realistic (scaled) delays, so that a
    status report comes after the daemon is back, or with no status reports at all."""
    from appliance.fakemodem.model import ModemConfig
    from appliance.fakemodem.server import FakeModemServer

    fakes.modem.stop()
    delay = "realistic" if reports else "none"
    fakes.modem = FakeModemServer(fakes.modem_link, fakes.tmp / "fm2", delay, seed=3,
                                  config=ModemConfig(status_reports=reports),
                                  time_scale=time_scale).start()


def _one_ask(fakes: Fakes, dp: DaemonProc, point: str) -> str:
    phone, text = ASKS[0]
    fakes.deliver(phone, text)
    dp.start(crash_at=point)
    assert dp.wait_exit(timeout=60) == -signal.SIGKILL, f"daemon did not die at {point}"
    return phone


def test_kill_right_after_the_pdu_is_settled_by_its_status_report(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    """Killed with the PDU written: the late status report (matched by modem, recipient
    and time: the +CMGS reference was never read) marks the row delivered; not resent."""
    _replace_modem(fakes, reports=True, time_scale=0.5)  # report 5-8 s after the submit
    fakes.config(outbox={"sending_policy": "resend", "sending_grace": 60})
    phone = _one_ask(fakes, daemon_proc, "after_pdu_written")
    wait_for(lambda: len(fakes.sent_to(phone)) == 1, timeout=20, what="the PDU submitted")
    daemon_proc.start()
    db = fakes.store
    wait_for(lambda: db_rows(db, "SELECT state FROM outbox_message") == [("delivered",)],
             timeout=40, what="the interrupted row settled by its report")
    assert daemon_proc.stop() == 0
    assert len(fakes.sent_to(phone)) == 1, "resent although its report said delivered"
    log = daemon_proc.log_file.read_text(encoding="utf-8")
    assert "interrupted after its PDU was written: waiting up to 60s" in log
    assert "was delivered (status report" in log


def test_kill_right_after_the_pdu_with_no_report_resends_after_the_grace(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    """No status report comes: after `sending_grace` the policy (resend) applies."""
    _replace_modem(fakes, reports=False)
    fakes.config(outbox={"sending_policy": "resend", "sending_grace": 3})
    phone = _one_ask(fakes, daemon_proc, "after_pdu_written")
    assert len(fakes.sent_to(phone)) == 1
    daemon_proc.start()
    db = fakes.store
    wait_for(lambda: db_rows(db, "SELECT send_step FROM outbox_message")
             == [("unconfirmed",)], timeout=20, what="the row waiting for a report")
    assert len(fakes.sent_to(phone)) == 1  # not resent before the grace ran out
    wait_for(lambda: len(fakes.sent_to(phone)) == 2, timeout=30, what="the resend")
    wait_for(lambda: db_rows(db, "SELECT state FROM outbox_message") == [("sent",)],
             timeout=10, what="the resent row sent")
    assert daemon_proc.stop() == 0
    log = daemon_proc.log_file.read_text(encoding="utf-8")
    assert "(no status report within the grace period): resending it" in log
