"""A send that may have gone out is settled by the network's status report, not sent twice
(issue 16), end to end: the fake modem on a pty, the SQLite file, a real SIGKILL.

- A report that comes while the daemon is dead waits on the modem (`+CNMI` ds=2) and
  settles the interrupted row at the next start.
- A send the modem broke off after its PDU was written (no `+CMGS` answer) waits for its
  report like a kill after the PDU; with none, the policy applies after the grace.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.daemon.adapters import SendingModem
from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.pdu import message_type
from appliance.fakemodem.server import FakeModemServer
from appliance.flows.outbound import Outbound, OutboxPolicy, SendCounts
from appliance.modem.pool import ModemHandle, Pool
from appliance.modem.wrapper import Modem
from appliance.store import queries
from appliance.store.db import open_database
from appliance.store.models import OutboxMessage
from tests.conftest import Box, DaemonProc, Fakes
from tests.helpers import db_rows, wait_for

PHONE = "+38344123456"


def _reports_on_modem(fakes: Fakes) -> int:
    return sum(1 for s in fakes.modem.stored() if message_type(s.pdu) == "status-report")


def test_a_report_that_came_while_the_daemon_was_dead_settles_its_row(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    fakes.config(outbox={"sending_policy": "resend", "sending_grace": 60})
    fakes.deliver(PHONE, "B")
    daemon_proc.start(crash_at="after_pdu_written")
    assert daemon_proc.wait_exit(timeout=60) == -signal.SIGKILL
    assert len(fakes.sent_to(PHONE)) == 1
    # The report comes 0.2 s after the submit, while nobody has the port open: a routed
    # +CDS would be lost; stored, it waits for the next start.
    wait_for(lambda: _reports_on_modem(fakes) == 1, timeout=10, what="the report stored")
    daemon_proc.start()
    db = fakes.store
    wait_for(lambda: db_rows(db, "SELECT state FROM outbox_message") == [("delivered",)],
             timeout=30, what="the interrupted row settled by the stored report")
    wait_for(lambda: _reports_on_modem(fakes) == 0, timeout=10, what="the report deleted")
    assert daemon_proc.stop() == 0
    assert len(fakes.sent_to(PHONE)) == 1, "resent although its report said delivered"
    log = daemon_proc.log_file.read_text(encoding="utf-8")
    assert "was delivered (status report" in log
    assert db_rows(db, "SELECT COUNT(*) FROM inbound_message")[0][0] == 1  # not the report


def _modem_without_reports(fakes: Fakes) -> None:
    fakes.modem.stop()
    fakes.modem = FakeModemServer(fakes.modem_link, fakes.tmp / "fm2", "none",
                                  config=ModemConfig(status_reports=False)).start()


def test_a_send_with_no_answer_waits_its_grace_then_the_policy(
        fakes: Fakes, make_box: Callable[..., Box]) -> None:
    """No `+CMGS` answer, no status report: not resent at once (it went out), but after
    `sending_grace` by policy `resend`, once."""
    _modem_without_reports(fakes)
    fakes.modem.fault("no-answer", match="+CMGS", count=1)
    b = make_box(modem={"command_timeout": 1.0}, outbox={"sending_grace": 4})
    fakes.deliver(PHONE, "B")
    db = fakes.store
    wait_for(lambda: db_rows(db, "SELECT send_step FROM outbox_message")
             == [("unconfirmed",)], timeout=20, what="the row waiting for a report")
    assert len(fakes.sent_to(PHONE)) == 1  # it went out; not sent again at once
    wait_for(lambda: len(fakes.sent_to(PHONE)) == 2, timeout=30, what="the resend")
    wait_for(lambda: db_rows(db, "SELECT state FROM outbox_message") == [("sent",)],
             timeout=10, what="the resent row sent")
    log = b.log_file.read_text(encoding="utf-8")
    assert "after its PDU was written: waiting up to 4s for a status report" in log
    assert "(no status report within the grace period): resending it" in log


def _now() -> datetime:
    return datetime.now(UTC)


def test_a_report_that_came_before_the_send_was_given_up_still_settles_it(
        fakes: Fakes, tmp_path: Path) -> None:
    """The report comes on the notice thread while the outbox still waits for `+CMGS`:
    applied then, it matches no row. Kept, it settles the row as soon as the send is
    given up and the row waits for a report (not resent after the grace)."""
    _modem_without_reports(fakes)  # the one report is the one handed over below
    fakes.modem.fault("no-answer", match="+CMGS", count=1)
    db = open_database(tmp_path / "outbox.sqlite")
    handle = ModemHandle("m1", None, lambda _h: Modem(str(fakes.modem_link),
                                                      command_timeout=1.0, send_timeout=2.0))
    handle.open()
    try:
        queries.enqueue_outbox(PHONE, "Bilanci", "reply", _now())
        outbound = Outbound(OutboxPolicy(max_attempts=5, backoff=timedelta(seconds=1),
                                         backoff_max=timedelta(seconds=2), on_sending="resend",
                                         sending_grace=timedelta(seconds=60)),
                            _now, Pool([handle], ()))
        early: list[tuple[int, str | None]] = []

        def report_on_the_notice_thread() -> None:
            (sent,) = wait_for(fakes.sent, timeout=5, what="the PDU submitted")
            outbound.on_status_report("m1", sent.refs[0], True, recipient=PHONE,
                                      smsc_time=_now())
            early.append((outbound.apply_status_reports(1.0),
                          OutboxMessage.get().send_step))

        notices = threading.Thread(target=report_on_the_notice_thread)
        notices.start()
        assert outbound.send_next(SendingModem(handle), SendCounts())  # gives up: no answer
        notices.join(5)
        assert early == [(1, "pdu")]  # applied while the row was still being sent
        assert OutboxMessage.get().send_step == "unconfirmed"
        assert outbound.apply_status_reports(1.0) == 1
        row = OutboxMessage.get()
        assert (row.state, row.attempts) == ("delivered", 1)
        assert len(fakes.sent_to(PHONE)) == 1
    finally:
        handle.close()
        db.close()
