"""Issue 17: the box with `[[modems]] receive = "direct"` (+CMT, acknowledged by +CNMA
after the commit): answers without listing or deleting, and invariants 1 and 2 hold when
the daemon (a subprocess) is SIGKILLed after a +CMT came but before its acknowledgement:
the fake modem's ack timeout makes the network deliver it again, and it is answered
exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import ConfigError, load
from appliance.fakebank.server import FakeBankServer
from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.pdu import message_type
from appliance.fakemodem.server import FakeModemServer
from tests.conftest import DaemonProc, Fakes, assert_logs_masked
from tests.helpers import db_rows, stored_messages, wait_for

PHONE = "+38344123456"
ASKS = (("+38344123456", "B"), ("+38345345678", "BK"), ("+38349234567", "B"))
# the modem waits 1 s for +CNMA, the network delivers again 0.5 s later (time scale 1)
QUICK = ModemConfig(ack_timeout=1.0, redelivery_after=0.5)
DIRECT = {"receive": "direct"}


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[Fakes]:
    bank = FakeBankServer(tmp_path / "bank").start()
    modem = FakeModemServer(tmp_path / "modem", tmp_path / "fm", config=QUICK).start()
    try:
        yield Fakes(tmp_path, bank, modem, tmp_path / "fm", tmp_path / "modem")
    finally:
        modem.stop()
        bank.close()


@pytest.fixture
def proc(direct: Fakes) -> Iterator[DaemonProc]:
    dp = DaemonProc(direct.config(modem=DIRECT), direct.tmp / "daemon-proc.log")
    try:
        yield dp
    finally:
        dp.kill()
        if dp.log_file.exists():  # shown by pytest only when the test failed
            print("".join(dp.log_file.read_text(encoding="utf-8").splitlines(True)[-60:]))
    assert_logs_masked(dp.log_file)


def _direct_on(fakes: Fakes) -> bool:
    status = fakes.modem.status()
    return bool(status["cnmi"][1] == 2)


def _listings(fakes: Fakes) -> int:
    return sum(1 for line, _ in fakes.modem.history() if line.startswith("AT+CMGL"))


def _handled(fakes: Fakes) -> int:
    db = fakes.tmp / "appliance.sqlite"
    return int(str(db_rows(db, "SELECT COUNT(*) FROM inbound_message "
                               "WHERE state = 'handled'")[0][0]))


def test_the_box_answers_by_direct_delivery(direct: Fakes, proc: DaemonProc) -> None:
    proc.start()
    wait_for(lambda: _direct_on(direct), 20, what="+CNMI mt=2 set by the daemon")
    # the walk of both storages after an init (for messages stored while we were away)
    wait_for(lambda: _listings(direct) == 2, 20, what="the walk after the init")
    before = len(direct.modem.history())
    for phone, text in ASKS:
        direct.deliver(phone, text)
    wait_for(lambda: all(direct.sent_to(p) for p, _ in ASKS), 30, what="every answer")
    lines = [line for line, _ in direct.modem.history()[before:]]
    assert lines.count("AT+CNMA") == len(ASKS)
    assert not [line for line in lines if line.startswith(("AT+CMGL", "AT+CMGD"))]
    assert stored_messages(direct.modem) == []
    assert proc.stop() == 0
    rows = db_rows(direct.tmp / "appliance.sqlite",
                   "SELECT storage, state FROM inbound_message ORDER BY id")
    assert rows == [("CMT", "handled")] * len(ASKS)


@pytest.mark.parametrize("point", ["after_read", "after_store"])
def test_killed_before_the_acknowledgement_is_answered_exactly_once(
        direct: Fakes, proc: DaemonProc, point: str) -> None:
    proc.start(crash_at=point)
    wait_for(lambda: _direct_on(direct), 20, what="+CNMI mt=2 set by the daemon")
    for phone, text in ASKS:
        direct.deliver(phone, text)
    assert proc.wait_exit(timeout=30) == -signal.SIGKILL
    assert f"crash point {point} reached" in proc.log_file.read_text(encoding="utf-8")
    assert not direct.sent()
    # No +CNMA came: the modem gives up (+CNMI mt=0) and the network delivers every
    # message again, stored now, for the next daemon to find.
    wait_for(lambda: len(stored_messages(direct.modem)) == len(ASKS), 10,
             what="the messages delivered again")
    assert not _direct_on(direct)
    proc.start()
    wait_for(lambda: all(direct.sent_to(p) for p, _ in ASKS), 30, what="every answer")
    wait_for(lambda: _handled(direct) == len(ASKS), 10, what="every inbound row handled")
    wait_for(lambda: _direct_on(direct), 10, what="direct delivery set up again")
    # and what comes next is handed over directly again
    direct.deliver("+38344123456", "BK")
    wait_for(lambda: len(direct.sent_to("+38344123456")) == 2, 20, what="the next answer")
    assert proc.stop() == 0
    for phone, _ in ASKS:
        got = direct.sent_to(phone)
        assert len(got) == (2 if phone == "+38344123456" else 1), f"{point}: {phone[:6]}…"
    assert stored_messages(direct.modem) == []
    assert _handled(direct) == len(ASKS) + 1


def _reports_on_modem(fakes: Fakes) -> int:
    return sum(1 for s in fakes.modem.stored() if message_type(s.pdu) == "status-report")


def _states(fakes: Fakes) -> list[str]:
    return [str(s) for s, in db_rows(fakes.tmp / "appliance.sqlite",
                                     "SELECT state FROM outbox_message")]


def test_a_report_taken_but_not_committed_comes_again(direct: Fakes, proc: DaemonProc) -> None:
    """Routed reports (`+CDS`, ds=1) are acknowledged only once applied: the daemon killed
    after taking one and before its commit leaves it unacknowledged, so the network
    delivers it again and the next start applies it (acknowledged at once, it was lost)."""
    proc.start(crash_at="report_before_commit")
    wait_for(lambda: _direct_on(direct), 20, what="+CNMI mt=2 set by the daemon")
    assert direct.modem.status()["cnmi"][3] == 1  # reports routed
    direct.deliver(PHONE, "B")
    assert proc.wait_exit(timeout=30) == -signal.SIGKILL
    assert len(direct.sent_to(PHONE)) == 1
    assert _states(direct) == ["sent"]
    wait_for(lambda: _reports_on_modem(direct) == 1, 10, what="the report delivered again")
    proc.start()
    wait_for(lambda: _states(direct) == ["delivered"], 30,
             what="the report applied by the next start")
    wait_for(lambda: _reports_on_modem(direct) == 0, 10, what="its slot freed")
    assert proc.stop() == 0
    assert len(direct.sent_to(PHONE)) == 1


def test_a_report_that_came_while_the_daemon_was_dead_settles_its_row(
        direct: Fakes) -> None:
    """Killed after the PDU was written: the `+CDS` came to nobody, was never
    acknowledged, and the network delivered it again; the next start settles the row by
    it instead of resending it after the grace (issue 16 in direct mode)."""
    dp = DaemonProc(direct.config(modem=DIRECT, outbox={"sending_policy": "resend",
                                                        "sending_grace": 60}),
                    direct.tmp / "daemon-dead.log")
    try:
        dp.start(crash_at="after_pdu_written")
        wait_for(lambda: _direct_on(direct), 20, what="+CNMI mt=2 set by the daemon")
        direct.deliver(PHONE, "B")
        assert dp.wait_exit(timeout=30) == -signal.SIGKILL
        assert len(direct.sent_to(PHONE)) == 1
        wait_for(lambda: _reports_on_modem(direct) == 1, 10, what="the report delivered again")
        dp.start()
        wait_for(lambda: _states(direct) == ["delivered"], 30,
                 what="the interrupted row settled by the report")
        assert dp.stop() == 0
    finally:
        dp.kill()
    assert len(direct.sent_to(PHONE)) == 1, "resent although its report said delivered"
    assert "was delivered (status report" in dp.log_file.read_text(encoding="utf-8")


def test_the_receive_key_is_checked_and_documented(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    base = ('[[modems]]\nname = "vala"\nport = "/dev/ttyUSB0"\noperator = "vala"\n'
            '{extra}[bank]\nurl = "https://bank.example"\n')
    path.write_text(base.format(extra=""), encoding="utf-8")
    assert load(path).modems[0].receive == "stored"  # the default
    path.write_text(base.format(extra='receive = "direct"\n'), encoding="utf-8")
    assert load(path).modems[0].receive == "direct"
    path.write_text(base.format(extra='receive = "push"\n'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == ('modems[0].receive: expected one of "stored", "direct", '
                               'got "push"')
    run = subprocess.run([sys.executable, "-c", "from appliance.cli import main; main()",
                          "doctor", "--config", str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert str(info.value) in line
    example = Path(__file__).resolve().parents[1] / "config" / "appliance.example.toml"
    assert 'receive = "stored"' in example.read_text(encoding="utf-8")
