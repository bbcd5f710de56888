"""The Modem wrapper against a scripted modem on a real pty: each of the field notes'
weak spots (numbers in the test names) shown to be survived."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from appliance.modem.errors import (
    CmeError,
    CmsError,
    CommandError,
    ModemGone,
    ModemTimeout,
    PinRequired,
)
from appliance.modem.pdu import decode, decode_deliver
from appliance.modem.types import StatusReport, Submit
from appliance.modem.wrapper import Modem, parse_cmgl, parse_cmgr
from tests.test_modem_scripted import (
    PDU_B,
    ScriptedModem,
    final,
    make_modem,
    modem,
    ok,
    scripted,
    wait_for,
)

__all__ = ["modem", "scripted"]  # fixtures used by name below

# A status report for TP-MR 41 to +38344123456: delivered (TP-ST 0).
CDS_PDU = "07918343040000F006290B918343143254F66211722100004062117221001040" + "00"


class Recorder:
    """Collects callback calls from the notice thread."""

    def __init__(self) -> None:
        self.new: list[tuple[str, int]] = []
        self.reports: list[StatusReport] = []
        self.gone = threading.Event()

    def on_new(self, storage: str, index: int) -> None:
        self.new.append((storage, index))

    def on_report(self, report: StatusReport) -> None:
        self.reports.append(report)

    def on_gone(self) -> None:
        self.gone.set()


def open_with(sm: ScriptedModem, rec: Recorder, **kwargs: object) -> Modem:
    m = make_modem(sm.path, on_new_message=rec.on_new, on_status_report=rec.on_report,
                   on_gone=rec.on_gone, **kwargs)
    m.open()
    return m


# ---------------------------------------------------------------- init (#15, #9, #10)


def test_15_open_is_short_and_touches_nothing_else(scripted: ScriptedModem) -> None:
    m = make_modem(scripted.path)
    m.open()
    try:
        assert scripted.commands == [
            "AT", "ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CMGF=0", "AT+CPMS=?",
            "AT+CNMI=2,1,0,2,0",
        ]
        assert scripted.raw.startswith(b"\x1b")  # a prompt left by a crash is cancelled
        assert m.storages == ("SM", "ME")
        assert m.cnmi == "2,1,0,2,0"
    finally:
        m.close()


def test_15_cnmi_falls_back_when_refused(scripted: ScriptedModem,
                                        caplog: pytest.LogCaptureFixture) -> None:
    # Stored reports (ds=2) first; a modem that refuses them routes them (ds=1), and the
    # log says what that costs.
    scripted.on("AT+CNMI=2,1,0,2,0", final("+CMS ERROR: 303"))
    scripted.on("AT+CNMI=1,1,0,2,0", final("ERROR"))
    m = make_modem(scripted.path)
    with caplog.at_level(logging.WARNING, logger="appliance.modem.startup"):
        m.open()
    try:
        assert m.cnmi == "2,1,0,1,0"
        assert "refuses stored status reports; +CNMI=2,1,0,1,0" in caplog.text
    finally:
        m.close()


def test_9_flow_control_off_by_default_and_configurable(scripted: ScriptedModem) -> None:
    m = make_modem(scripted.path)
    m.open()
    assert not scripted.flow_control_on()
    m.close()
    m = make_modem(scripted.path, rtscts=True)
    m.open()
    try:
        assert scripted.flow_control_on()
    finally:
        m.close()


def test_pin_required_and_absent_raises(scripted: ScriptedModem) -> None:
    scripted.cpin = "SIM PIN"
    m = make_modem(scripted.path)
    with pytest.raises(PinRequired) as err:
        m.open()
    assert err.value.state == "SIM PIN"
    assert not m.alive


def test_pin_given_is_entered_once(scripted: ScriptedModem) -> None:
    scripted.cpin = "SIM PIN"
    m = make_modem(scripted.path, pin="1234")
    m.open()
    try:
        assert [c for c in scripted.commands if c.startswith("AT+CPIN=")] == ['AT+CPIN="1234"']
        assert m.ping()
    finally:
        m.close()


def test_wrong_pin_is_not_retried(scripted: ScriptedModem) -> None:
    scripted.cpin = "SIM PIN"
    scripted.pin = "7391"
    m = make_modem(scripted.path, pin="0915")
    with pytest.raises(PinRequired):
        m.open()
    assert [c for c in scripted.commands if c.startswith("AT+CPIN=")] == ['AT+CPIN="0915"']
    # A fresh Modem for the same port (the daemon's reopen) does not try it again...
    with pytest.raises(PinRequired):
        make_modem(scripted.path, pin="0915").open()
    assert [c for c in scripted.commands if c.startswith("AT+CPIN=")] == ['AT+CPIN="0915"']
    # ...but a corrected PIN is tried.
    m = make_modem(scripted.path, pin="7391")
    m.open()
    try:
        assert m.ping()
    finally:
        m.close()


def test_puk_state_is_pin_required(scripted: ScriptedModem) -> None:
    scripted.cpin = "SIM PUK"
    with pytest.raises(PinRequired) as err:
        make_modem(scripted.path, pin="1234").open()
    assert err.value.state == "SIM PUK"


def test_open_missing_port_is_modem_gone(tmp_path: Path) -> None:
    with pytest.raises(ModemGone):
        make_modem(str(tmp_path / "no-such-tty")).open()


def test_only_sm_when_me_not_offered(scripted: ScriptedModem) -> None:
    scripted.storages_offered = ("SM",)
    scripted.storage["SM"][0] = (1, PDU_B)
    m = make_modem(scripted.path)
    m.open()
    try:
        assert m.storages == ("SM",)
        assert [(s.storage, s.index) for s in m.list_stored()] == [("SM", 0)]
        assert not any('"ME"' in c for c in scripted.commands)
    finally:
        m.close()


# ---------------------------------------------------------------- notices (#1, #2, #13)


def test_1_notice_inside_an_answer_is_routed_not_appended(scripted: ScriptedModem) -> None:
    rec = Recorder()
    scripted.on("AT+CSQ", '\r\n+CSQ: 17,99\r\n+CMTI: "SM",3\r\n+CREG: 1\r\n'
                          '+CMTI: "ME",4\r\n\r\nOK\r\n')
    m = open_with(scripted, rec)
    try:
        assert m.signal() == (17, 99)
        wait_for(lambda: len(rec.new) == 2, timeout=5, what="two +CMTI")
        assert rec.new == [("SM", 3), ("ME", 4)]
    finally:
        m.close()


def test_1_creg_asked_for_is_an_answer_not_a_notice(scripted: ScriptedModem) -> None:
    rec = Recorder()
    scripted.on("AT+CREG?", ok("+CREG: 0,5"))
    m = open_with(scripted, rec)
    try:
        reg = m.registration()
        assert (reg.status, reg.registered, reg.roaming) == (5, True, True)
    finally:
        m.close()


def test_1_notice_inside_a_listing_keeps_the_listing_whole(scripted: ScriptedModem) -> None:
    rec = Recorder()
    scripted.storage["SM"] = {0: (1, PDU_B), 1: (0, PDU_B)}

    def listing(sm: ScriptedModem, _cmd: str) -> str:
        return (f"\r\n+CMGL: 0,1,,20\r\n{PDU_B}\r\n+CMTI: \"SM\",1\r\n"
                f"+CMGL: 1,0,,20\r\n{PDU_B}\r\n\r\nOK\r\n")

    scripted.on("AT+CMGL", listing)
    scripted.storages_offered = ("SM",)
    m = open_with(scripted, rec)
    try:
        stored = m.list_stored()
        assert [(s.index, s.status, s.pdu) for s in stored] == [(0, 1, PDU_B), (1, 0, PDU_B)]
        wait_for(lambda: rec.new == [("SM", 1)], timeout=5, what="+CMTI")
    finally:
        m.close()


def test_2_two_cmti_in_one_burst_both_delivered(scripted: ScriptedModem) -> None:
    rec = Recorder()
    m = open_with(scripted, rec)
    try:
        scripted.push('\r\n+CMTI: "SM",5\r\n\r\n+CMTI: "ME",6\r\n')
        wait_for(lambda: len(rec.new) == 2, timeout=5, what="both +CMTI")
        assert rec.new == [("SM", 5), ("ME", 6)]
    finally:
        m.close()


def test_13_cds_split_across_reads_is_parsed(scripted: ScriptedModem) -> None:
    rec = Recorder()
    m = open_with(scripted, rec)
    try:
        pieces = ["\r\n+CDS: 2", f"5\r\n{CDS_PDU[:20]}", f"{CDS_PDU[20:]}\r\n"]
        for piece in pieces:
            seen = m.bytes_received + len(piece)
            scripted.push(piece)
            wait_for(lambda s=seen: m.bytes_received >= s, timeout=5, what="the piece read")
        wait_for(lambda: rec.reports, timeout=5, what="the status report")
        report = rec.reports[0]
        assert (report.ref, report.recipient, report.delivered) == (0x29, "+38344123456", True)
        assert m.ping()  # the PDU line was consumed as the notice's, nothing else
    finally:
        m.close()


def test_13_cds_while_a_command_runs(scripted: ScriptedModem) -> None:
    rec = Recorder()
    scripted.on("AT+CSQ", f"\r\n+CDS: 25\r\n{CDS_PDU}\r\n" + ok("+CSQ: 9,0"))
    m = open_with(scripted, rec)
    try:
        assert m.signal() == (9, 0)
        wait_for(lambda: rec.reports, timeout=5, what="the status report")
        assert rec.reports[0].ref == 0x29
    finally:
        m.close()


def test_callback_may_call_back_into_the_modem(scripted: ScriptedModem) -> None:
    scripted.storage["SM"][2] = (0, PDU_B)
    seen: list[int] = []
    holder: dict[str, Modem] = {}

    def on_new(storage: str, index: int) -> None:
        read = holder["m"].read(storage, index)
        seen.append(read.index if read else -1)

    m = make_modem(scripted.path, on_new_message=on_new)
    holder["m"] = m
    m.open()
    try:
        scripted.push('\r\n+CMTI: "SM",2\r\n')
        wait_for(lambda: seen == [2], timeout=5, what="the callback's read")
    finally:
        m.close()


# ---------------------------------------------------------------- line robustness (#3, #4, #7)


def test_3_non_utf8_bytes_do_not_kill_the_reader(scripted: ScriptedModem) -> None:
    rec = Recorder()
    scripted.on("AT+COPS?", b'\r\n+COPS: 0,0,"Va\xffla\xc3",2\r\n\r\nOK\r\n')
    m = open_with(scripted, rec)
    try:
        scripted.push(b"\r\n\xff\xfe\x80garbage\x00\r\n")
        assert m.operator_name() == "Va\ufffdla\ufffd"
        assert m.signal() == (20, 99)
        scripted.push('\r\n+CMTI: "SM",7\r\n')
        wait_for(lambda: rec.new == [("SM", 7)], timeout=5, what="+CMTI after garbage")
    finally:
        m.close()


def test_4_late_reply_is_not_handed_to_the_next_command(scripted: ScriptedModem) -> None:
    state = {"csq": 0}

    def csq(sm: ScriptedModem, _cmd: str) -> str | None:
        state["csq"] += 1
        return None if state["csq"] == 1 else ok("+CSQ: 20,99")

    def at(sm: ScriptedModem, _cmd: str) -> str:
        # The first AT after the timeout: the late answer arrives just before its OK.
        late = ok("+CSQ: 3,3") if state["csq"] == 1 and not state.get("late") else ""
        state["late"] = 1 if late else state.get("late", 0)
        return late + ok()

    scripted.on("AT+CSQ", csq)
    m = make_modem(scripted.path, command_timeout=0.5)
    m.open()
    scripted.on("AT", at, exact=True)
    try:
        with pytest.raises(ModemTimeout):
            m.signal()
        assert m.signal() == (20, 99)
        assert m.signal() == (20, 99)
    finally:
        m.close()


def test_4_stray_answer_with_nothing_pending_is_discarded(modem: Modem,
                                                          scripted: ScriptedModem) -> None:
    stray = ok("+CSQ: 1,1")
    seen = modem.bytes_received + len(stray)
    scripted.push(stray)
    wait_for(lambda: modem.bytes_received >= seen, timeout=5, what="stray read")
    assert modem.signal() == (20, 99)


@pytest.mark.parametrize(
    ("result", "error"),
    [
        ("+CME ERROR: SIM not inserted", CmeError),
        ("+CME ERROR: 10", CmeError),
        ("+CMS ERROR: 331", CmsError),
        ("NO CARRIER", CommandError),
        ("BUSY", CommandError),
        ("NO ANSWER", CommandError),
        ("COMMAND NOT SUPPORT", CommandError),
        ("ERROR", CommandError),
    ],
)
def test_7_text_form_finals_end_the_command_at_once(
    scripted: ScriptedModem, result: str, error: type[Exception]
) -> None:
    scripted.on("AT+CSQ", final(result))
    m = make_modem(scripted.path, command_timeout=30.0)
    m.open()
    try:
        started = time.monotonic()
        with pytest.raises(error):
            m.signal()
        assert time.monotonic() - started < 5
        assert m.ping()
    finally:
        m.close()


def test_7_sim_not_inserted_at_open(scripted: ScriptedModem) -> None:
    scripted.on("AT+CPIN?", final("+CME ERROR: SIM not inserted"))
    m = make_modem(scripted.path, command_timeout=30.0)
    started = time.monotonic()
    with pytest.raises(CmeError) as err:
        m.open()
    assert err.value.code == "SIM not inserted"
    assert time.monotonic() - started < 5


def test_echo_is_tolerated(scripted: ScriptedModem) -> None:
    def echo(sm: ScriptedModem, cmd: str) -> str | None:
        reply = sm.default(cmd)
        if reply is None or cmd.upper().startswith("AT+CMGS"):
            return reply
        return cmd + "\r" + (reply if isinstance(reply, str) else reply.decode("latin-1"))

    scripted.on("AT", echo)
    m = make_modem(scripted.path)
    m.open()
    try:
        assert m.signal() == (20, 99)
        assert m.info().model == "PTY-1"
    finally:
        m.close()


# ---------------------------------------------------------------- storage (#5, #6)


def test_5_6_listing_never_deletes_and_keeps_bad_pdus_in_place(modem: Modem,
                                                               scripted: ScriptedModem) -> None:
    scripted.storage["SM"] = {0: (1, PDU_B), 1: (0, "07FFFF"), 2: (0, PDU_B)}
    scripted.storage["ME"] = {5: (1, "zz-not-hex"), 6: (0, PDU_B)}
    stored = modem.list_stored()
    assert [(s.storage, s.index, s.pdu) for s in stored] == [
        ("SM", 0, PDU_B), ("SM", 1, "07FFFF"), ("SM", 2, PDU_B),
        ("ME", 5, "zz-not-hex"), ("ME", 6, PDU_B),
    ]
    assert all(s.received for s in stored)
    assert not any(c.startswith("AT+CMGD") for c in scripted.commands)
    assert 'AT+CPMS="SM"' in scripted.commands
    assert 'AT+CPMS="ME"' in scripted.commands
    assert decode_deliver(stored[2].pdu).text == "B"


def test_5_delete_removes_exactly_one_slot(modem: Modem, scripted: ScriptedModem) -> None:
    scripted.storage["ME"] = {3: (0, PDU_B), 4: (0, PDU_B)}
    modem.delete("ME", 3)
    modem.delete("ME", 3)  # already gone: fine
    assert scripted.storage["ME"] == {4: (0, PDU_B)}
    deletes = [c for c in scripted.commands if c.startswith("AT+CMGD")]
    assert deletes == ["AT+CMGD=3", "AT+CMGD=3"]


def test_read_and_empty_slot(modem: Modem, scripted: ScriptedModem) -> None:
    scripted.storage["SM"] = {9: (0, PDU_B)}
    got = modem.read("SM", 9)
    assert got is not None
    assert (got.index, got.status, got.pdu) == (9, 0, PDU_B)
    assert modem.read("SM", 10) is None


def test_storage_usage(modem: Modem, scripted: ScriptedModem) -> None:
    scripted.storage["SM"] = {0: (0, PDU_B), 1: (0, PDU_B)}
    assert modem.storage_usage() == {"SM": (2, 30), "ME": (0, 30)}


# ---------------------------------------------------------------- sending (#10, #11, #12)


def test_10_11_send_ucs2_by_pdu_only_and_report_bit(modem: Modem,
                                                    scripted: ScriptedModem) -> None:
    result = modem.send("+38344123456", "Bilanci ë 😀", request_report=False)
    assert len(result.refs) == 1
    sent = decode(scripted.submitted[0])
    assert isinstance(sent, Submit)
    assert (sent.recipient, sent.text, sent.encoding) == ("+38344123456", "Bilanci ë 😀", "ucs2")
    assert sent.request_report is False
    assert not any("CSCS" in c for c in scripted.commands)
    modem.send("+38344123456", "B ok", request_report=True)
    again = decode(scripted.submitted[1])
    assert isinstance(again, Submit)
    assert again.request_report
    assert again.encoding == "gsm7"


def test_send_long_message_in_parts(modem: Modem, scripted: ScriptedModem) -> None:
    text = "Pagesa " * 40
    result = modem.send("+38349234567", text)
    assert len(result.refs) == 2
    assert result.refs[1] == result.refs[0] + 1
    parts = [decode(h) for h in scripted.submitted]
    assert "".join(p.text for p in parts) == text
    cmgs = [c for c in scripted.commands if c.startswith("AT+CMGS=")]
    assert cmgs == [f"AT+CMGS={len(h) // 2 - 1}" for h in scripted.submitted]


def test_send_reports_each_parts_steps(modem: Modem, scripted: ScriptedModem) -> None:
    """"prompt" comes before the PDU is on the wire (nothing submitted yet), "written"
    after, "answered" once +CMGS is read: the outbox records the first as its risk point."""
    steps: list[tuple[str, int]] = []
    modem.send("+38349234567", "Pagesa " * 40,
               progress=lambda step: steps.append((step, len(scripted.submitted))))
    assert [s for s, _ in steps] == ["prompt", "written", "answered"] * 2
    assert steps[0] == ("prompt", 0)
    assert steps[2] == ("answered", 1)


def test_12_missing_prompt_sends_esc_and_times_out(scripted: ScriptedModem) -> None:
    scripted.on("AT+CMGS", lambda sm, c: None)
    m = make_modem(scripted.path, prompt_timeout=0.5)
    m.open()
    try:
        started = time.monotonic()
        steps: list[str] = []
        with pytest.raises(ModemTimeout):
            m.send("+38344123456", "B", progress=steps.append)
        assert steps == []  # no prompt: the PDU was never written
        assert time.monotonic() - started < 3
        wait_for(lambda: b"\x1b" in scripted.raw[scripted.raw.rfind(b"AT+CMGS"):],
                 timeout=5, what="ESC after the unanswered AT+CMGS")
        assert m.ping()
    finally:
        m.close()


def test_send_cms_error_is_transient_or_not(scripted: ScriptedModem) -> None:
    scripted.on("AT+CMGS", lambda sm, c: final("+CMS ERROR: 332"))
    m = make_modem(scripted.path)
    m.open()
    try:
        with pytest.raises(CmsError) as err:
            m.send("+38344123456", "B")
        assert err.value.code == 332
        assert err.value.transient
        scripted.on("AT+CMGS", lambda sm, c: final("+CMS ERROR: 304"))
        with pytest.raises(CmsError) as err2:
            m.send("+38344123456", "B")
        assert not err2.value.transient
    finally:
        m.close()


def test_error_on_a_later_part_carries_the_sent_refs(scripted: ScriptedModem) -> None:
    state = {"parts": 0}

    def cmgs(sm: ScriptedModem, cmd: str) -> str:
        state["parts"] += 1
        if state["parts"] == 2:
            return final("+CMS ERROR: 512")
        return sm.default(cmd)  # type: ignore[return-value]

    scripted.on("AT+CMGS", cmgs)
    m = make_modem(scripted.path)
    m.open()
    try:
        with pytest.raises(CmsError) as err:
            m.send("+38344123456", "x" * 200)
        assert err.value.transient
        assert len(err.value.sent_refs) == 1
    finally:
        m.close()


# ---------------------------------------------------------------- the port vanishing (#8)


def test_8_port_vanishing_fails_the_pending_command_at_once(tmp_path: Path) -> None:
    link = tmp_path / "modem"
    first = ScriptedModem(link)
    first.on("AT+CSQ", lambda sm, c: None)  # never answers
    rec = Recorder()
    m = make_modem(str(link), command_timeout=30.0, on_gone=rec.on_gone)
    m.open()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            m.signal()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    wait_for(lambda: "AT+CSQ" in first.commands, timeout=5, what="the command to be sent")
    started = time.monotonic()
    first.vanish()
    worker.join(timeout=10)
    assert errors
    assert isinstance(errors[0], ModemGone)
    assert time.monotonic() - started < 5
    assert rec.gone.wait(5)
    assert not m.alive
    with pytest.raises(ModemGone):
        m.signal()
    first.stop()
    second = ScriptedModem(link)  # the stick is back (a new pty behind the same link)
    try:
        m.reopen()
        assert m.alive
        assert m.signal() == (20, 99)
    finally:
        m.close()
        second.stop()


def test_8_reopen_from_the_gone_callback(tmp_path: Path) -> None:
    link = tmp_path / "modem"
    first = ScriptedModem(link)
    second: list[ScriptedModem] = []
    reopened = threading.Event()
    holder: dict[str, Modem] = {}

    def on_gone() -> None:
        second.append(ScriptedModem(link))
        holder["m"].reopen()
        reopened.set()

    m = make_modem(str(link), on_gone=on_gone)
    holder["m"] = m
    m.open()
    try:
        first.vanish()
        assert reopened.wait(10)
        assert m.ping()
    finally:
        m.close()
        first.stop()
        for sm in second:
            sm.stop()


def test_close_is_idempotent_and_commands_after_close_are_gone(modem: Modem) -> None:
    modem.close()
    modem.close()
    with pytest.raises(ModemGone):
        modem.signal()
    assert modem.ping() is False


# ---------------------------------------------------------------- identity and threads


def test_identity_and_network(modem: Modem) -> None:
    info = modem.info()
    assert (info.manufacturer, info.model, info.revision, info.imei, info.imsi) == (
        "Scripted", "PTY-1", "1.0", "356938035643809", "295011234567890")
    assert modem.imsi() == "295011234567890"
    assert modem.signal_dbm() == -73
    assert modem.operator_name() == "Vala"
    assert modem.smsc() == "+38344000000"
    assert modem.registration().registered


def test_signal_unknown_is_none(scripted: ScriptedModem) -> None:
    scripted.on("AT+CSQ", ok("+CSQ: 99,99"))
    m = make_modem(scripted.path)
    m.open()
    try:
        assert m.signal_dbm() is None
    finally:
        m.close()


def test_threads_share_one_modem_without_interleaving(modem: Modem,
                                                      scripted: ScriptedModem) -> None:
    scripted.storage["SM"] = dict.fromkeys(range(5), (0, PDU_B))
    failures: list[BaseException] = []

    def sender() -> None:
        try:
            for i in range(5):
                modem.send("+38344123456", f"reply {i}")
        except BaseException as exc:
            failures.append(exc)

    def lister() -> None:
        try:
            for _ in range(5):
                assert len(modem.list_stored()) == 5
                assert modem.signal() == (20, 99)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=sender), threading.Thread(target=lister)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not failures
    assert sorted(decode(h).text for h in scripted.submitted) == [f"reply {i}" for i in range(5)]


# ---------------------------------------------------------------- restarts and late sends


def test_modem_restart_notice_triggers_a_fresh_init(modem: Modem,
                                                    scripted: ScriptedModem) -> None:
    scripted.storage["SM"] = {1: (0, PDU_B)}
    seen = modem.bytes_received + len("\r\nRDY\r\n")
    scripted.push("\r\nRDY\r\n")
    wait_for(lambda: modem.bytes_received >= seen, timeout=5, what="RDY read")
    wait_for(lambda: modem._needs_init, timeout=5, what="the notice handled")
    before = len(scripted.commands)
    assert [s.index for s in modem.list_stored()] == [1]
    again = scripted.commands[before:]
    assert again[:5] == ["AT", "ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CMGF=0"]
    assert again[-1] == "AT+CMGL=4"


def test_late_cmgs_after_a_send_timeout_is_logged(scripted: ScriptedModem,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    scripted.answer_submits = False  # the PDU goes out, the answer comes too late
    m = make_modem(scripted.path, send_timeout=0.5)
    m.open()
    try:
        with pytest.raises(ModemTimeout):
            m.send("+38344123456", "B")
        with caplog.at_level("WARNING", logger="appliance.modem.serial_link"):
            scripted.push(ok("+CMGS: 77"))
            wait_for(lambda: "late +CMGS: 77" in caplog.text, timeout=5, what="the warning")
        assert m.ping()
        assert "+38344123456" not in caplog.text
    finally:
        m.close()


def test_open_after_the_port_vanished_leaves_no_threads_behind(tmp_path: Path) -> None:
    link = tmp_path / "modem"
    first = ScriptedModem(link)
    rec = Recorder()
    with make_modem(str(link), on_gone=rec.on_gone) as m:
        baseline = threading.active_count()
        first.vanish()
        assert rec.gone.wait(5)
        first.stop()
        second = ScriptedModem(link)
        try:
            m.open()  # no close() first: open() retires the dead link itself
            assert m.ping()
            wait_for(lambda: threading.active_count() <= baseline, timeout=5,
                     what="the dead link's threads to end")
        finally:
            m.close()
            second.stop()


def test_endless_noise_without_line_end_is_dropped(
    modem: Modem, scripted: ScriptedModem, caplog: pytest.LogCaptureFixture
) -> None:
    noise = b"\xaa" * 40000
    seen = modem.bytes_received + len(noise)
    with caplog.at_level("WARNING", logger="appliance.modem.serial_link"):
        scripted.push(noise)
        wait_for(lambda: modem.bytes_received >= seen, timeout=10, what="the noise read")
    assert "without a line end dropped" in caplog.text
    assert modem.signal() == (20, 99)


# ---------------------------------------------------------------- answer parsing


def test_parse_cmgr_accepts_every_header_variant_in_the_corpus() -> None:
    from tests.test_modem_pdu import CORPUS

    dumps = sorted(CORPUS.glob("*/*.dump"))
    assert dumps
    for path in dumps:
        lines = [ln.strip() for ln in path.read_text("latin-1").splitlines() if ln.strip()]
        answer = [ln for ln in lines if not ln.startswith("AT") and ln != "OK"]
        got = parse_cmgr("SM", 1, answer)
        assert got is not None, path.name
        assert got.pdu == answer[1].strip('"')
        assert got.length == int(answer[0].rsplit(",", 1)[-1].split(":")[-1])
    assert parse_cmgr("SM", 1, ["+CMGR: 0,,0", ""]) is None
    assert parse_cmgr("SM", 1, []) is None


def test_parse_cmgl_variants() -> None:
    lines = ['+CMGL: 3,1,"Doe, J",23', PDU_B, "+CMGL: 4,0,,23", "+CMGL: 5,0,,23", PDU_B,
             "+CMGL: x,0,,23", PDU_B]
    got = parse_cmgl("ME", lines)
    assert [(m.index, m.status, m.pdu, m.length) for m in got] == [
        (3, 1, PDU_B, 23), (4, 0, "", 23), (5, 0, PDU_B, 23)]
