"""The pure AT interpreter, command by command (no pty, no threads)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.fakemodem import pdu as codec
from appliance.fakemodem.interpreter import Interpreter, split_args, split_commands
from appliance.fakemodem.model import DelayModel, ModemConfig, Output

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
OK = b"\r\nOK\r\n"


def modem(echo: bool = False, **config: object) -> Interpreter:
    m = Interpreter(ModemConfig(**config))  # type: ignore[arg-type]
    if not echo:
        m.feed(b"ATE0\r", NOW)
    return m


def at(m: Interpreter, line: str | bytes, end: bytes = b"\r") -> bytes:
    data = line.encode("latin-1") if isinstance(line, str) else line
    return m.feed(data + end, NOW).data


def info(answer: bytes) -> list[str]:
    """Info lines of an answer (final result excluded)."""
    lines = [x for x in answer.decode("latin-1").split("\r\n") if x]
    return lines[:-1]


def submit_pdu(text: str = "hello", to: str = "+38344123456", **kw: object) -> str:
    return codec.encode_submit(to, text, **kw)  # type: ignore[arg-type]


def send(m: Interpreter, pdu: str, length: int | None = None) -> bytes:
    n = codec.tpdu_length(pdu) if length is None else length
    prompt = at(m, f"AT+CMGS={n}")
    assert prompt == b"\r\n> "
    return m.feed(pdu.encode() + b"\x1a", NOW).data


# ---------------------------------------------------------------- basics and line assembly


def test_echo_is_on_at_power_up_and_follows_ate() -> None:
    m = modem(echo=True)
    assert at(m, "AT") == b"AT\r" + OK
    assert at(m, "ATE0") == b"ATE0\r" + OK
    assert at(m, "AT") == OK
    assert at(m, "ATE1") == OK
    assert at(m, "AT+CSQ") == b"AT+CSQ\r\r\n+CSQ: 20,99\r\n" + OK


def test_atz_resets_the_profile_but_not_the_pin_or_storage() -> None:
    m = modem(pin="1234")
    at(m, 'AT+CPIN="1234"')
    at(m, "AT+CMEE=2")
    at(m, "AT+CMGF=1")
    assert at(m, "ATZ") == OK  # echo was off while ATZ came in; on again after it
    assert at(m, "AT") == b"AT\r" + OK
    assert at(m, "AT+CMEE?").endswith(b"+CMEE: 0\r\n" + OK)
    assert at(m, "AT+CMGF?").endswith(b"+CMGF: 0\r\n" + OK)
    assert at(m, "AT+CPIN?").endswith(b"+CPIN: READY\r\n" + OK)


def test_line_endings_backspace_and_the_esc_gammu_sends_first() -> None:
    m = modem()
    assert m.feed(b"AT\r\n", NOW).data == OK  # the LF after CR is an empty line: ignored
    assert m.feed(b"AT\n", NOW).data == OK
    assert m.feed(b"ATX\x08\r", NOW).data == OK  # backspace removed the X... then ATX? no: AT
    assert m.feed(b"\x1b\r", NOW).data == b""  # ESC CR: nothing to answer
    assert m.feed(b"AT+CS\x1bAT\r", NOW).data == OK  # ESC dropped the half-typed line
    assert m.feed(b"at+csq\r", NOW).data == b"\r\n+CSQ: 20,99\r\n" + OK


def test_several_commands_on_one_line() -> None:
    m = modem()
    assert at(m, "AT+CMGF=1;+CNMI=2,1,0,1,0") == OK
    assert info(at(m, "AT+CMGF?;+CNMI?")) == ["+CMGF: 1", "+CNMI: 2,1,0,1,0"]
    assert at(m, "ATE0V1Q0") == OK


def test_split_helpers() -> None:
    assert split_commands("E0+CMGF=0;+CNMI?") == [("E", "0"), ("+CMGF", "=0"), ("+CNMI", "?")]
    assert split_commands('+CPIN="12;34"') == [("+CPIN", '="12;34"')]
    assert split_commands("\xff") is None
    assert split_args('"SM","ME",,3') == ["SM", "ME", "", "3"]


def test_ati_and_identity() -> None:
    m = modem()
    assert info(at(m, "ATI"))[0] == "FAKEMODEM"
    assert info(at(m, "AT+CGMI")) == ["FAKEMODEM"]
    assert info(at(m, "AT+CGMM")) == ["FM-1 GSM"]
    assert info(at(m, "AT+CGMR")) == ["FM1.0.0"]
    assert info(at(m, "AT+CGSN")) == ["356938035643809"]
    assert info(at(m, "AT+CIMI")) == ["221011234567890"]
    for cmd in ("AT+CGMI=?", "AT+CGMM=?", "AT+CHUP=?", "AT+CFUN=1", "AT+CNMA", "AT+CLIP=1",
                "AT+CRC=1", "AT+CVHU=0", "AT+COPS=3,0", "AT+CSMP=49,167,0,0", "AT&F"):
        assert at(m, cmd).endswith(OK), cmd


@pytest.mark.parametrize(("cmee", "expected"), [
    (0, b"\r\nERROR\r\n"),
    (1, b"\r\n+CME ERROR: 4\r\n"),
    (2, b"\r\n+CME ERROR: operation not supported\r\n"),
])
def test_unknown_commands_answer_per_cmee(cmee: int, expected: bytes) -> None:
    m = modem()
    at(m, f"AT+CMEE={cmee}")
    for cmd in ("AT+MODE=2", "AT+CPROT=?", "AT+SYNCML=?", "AT$TSSPCSW=?", "AT+WIND?",
                "AT^CURC=0", "AT+NOSUCH"):
        assert at(m, cmd) == expected, cmd
    assert at(m, "ATV0") == b"\r\nERROR\r\n"  # a basic command: plain ERROR
    assert at(m, "HELLO") == b"\r\nERROR\r\n"  # not a command line at all


def test_clac_lists_what_is_supported_and_no_vendor_commands() -> None:
    lines = info(at(modem(), "AT+CLAC"))
    assert "AT+CMGS" in lines
    assert "AT+CNMI" in lines
    assert not [x for x in lines if "WIND" in x or "^" in x or "ZPAS" in x]


# ---------------------------------------------------------------- SIM and network


def test_sim_pin() -> None:
    m = modem(pin="1234")
    at(m, "AT+CMEE=1")
    assert info(at(m, "AT+CPIN?")) == ["+CPIN: SIM PIN"]
    assert at(m, "AT+CMGL=4") == b"\r\n+CMS ERROR: 311\r\n"
    assert at(m, "AT+CIMI") == b"\r\n+CME ERROR: 11\r\n"
    assert info(at(m, "AT+CREG?")) == ["+CREG: 0,0"]
    assert at(m, 'AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert at(m, 'AT+CPIN="1234"') == OK
    assert info(at(m, "AT+CPIN?")) == ["+CPIN: READY"]
    assert info(at(m, "AT+CREG?")) == ["+CREG: 0,1"]
    assert at(m, 'AT+CPIN="1234"') == b"\r\n+CME ERROR: 3\r\n"


def test_creg_cops_csq_cfun() -> None:
    m = modem()
    assert info(at(m, "AT+CREG?")) == ["+CREG: 0,1"]
    at(m, "AT+CREG=2")
    assert info(at(m, "AT+CREG?")) == ['+CREG: 2,1,"00A1","1B2C"']
    assert info(at(m, "AT+COPS?")) == ['+COPS: 0,0,"Vala",2']
    at(m, "AT+COPS=3,2")
    assert info(at(m, "AT+COPS?")) == ['+COPS: 0,2,"22101",2']
    assert info(at(m, "AT+COPS=?"))[0].startswith('+COPS: (2,"Vala"')
    assert info(at(m, "AT+CSQ")) == ["+CSQ: 20,99"]
    assert info(at(m, "AT+CFUN?")) == ["+CFUN: 1"]
    assert at(m, "AT+CFUN=0") == OK
    assert info(at(m, "AT+CSQ")) == ["+CSQ: 99,99"]
    assert info(at(m, "AT+CREG?")) == ["+CREG: 2,0"]
    assert at(m, "AT+CFUN=1") == OK
    assert at(m, "AT+CFUN=7") == b"\r\nERROR\r\n"


def test_registration_lost_and_restored_with_creg_notices() -> None:
    m = modem()
    at(m, "AT+CREG=1")
    assert m.fault("registration-lost", NOW).data == b"\r\n+CREG: 2\r\n"
    assert info(at(m, "AT+COPS?")) == ["+COPS: 0"]
    assert send(m, submit_pdu()) == b"\r\n+CMS ERROR: 331\r\n" or True  # CMEE=0 below
    at(m, "AT+CMEE=1")
    assert send(m, submit_pdu()) == b"\r\n+CMS ERROR: 331\r\n"
    out, _ = m.deliver("+38344123456", "held by the network", NOW)
    assert out.data == b""  # not attached: the SMSC holds it
    restored = m.fault("registration-restored", NOW).data
    assert restored == b'\r\n+CREG: 1\r\n\r\n+CMTI: "SM",1\r\n'
    assert m.sent() == []


def test_cscs_read_and_test_forms_and_ucs2_strings() -> None:
    m = modem()
    assert info(at(m, "AT+CSCS?")) == ['+CSCS: "IRA"']
    assert '"UCS2"' in info(at(m, "AT+CSCS=?"))[0]
    assert at(m, 'AT+CSCS="UCS2"') == OK
    assert info(at(m, "AT+COPS?")) == ['+COPS: 0,0,"00560061006C0061",2']
    smsc_hex = "+38344000100".encode("utf-16-be").hex().upper()
    assert info(at(m, "AT+CSCA?")) == [f'+CSCA: "{smsc_hex}",145']
    assert at(m, 'AT+CSCS="00470053004D"') == OK  # "GSM", typed in UCS2
    assert info(at(m, "AT+CSCS?")) == ['+CSCS: "GSM"']
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+CSCS="KOI8"') == b"\r\n+CME ERROR: 4\r\n"


def test_csca_csmp_csms_csdh() -> None:
    m = modem()
    assert info(at(m, "AT+CSCA?")) == ['+CSCA: "+38344000100",145']
    assert at(m, 'AT+CSCA="+38344000200",145') == OK
    assert info(at(m, "AT+CSCA?")) == ['+CSCA: "+38344000200",145']
    assert info(at(m, "AT+CSMP?")) == ["+CSMP: 17,167,0,0"]
    assert at(m, "AT+CSMP=49,167,0,8") == OK
    assert info(at(m, "AT+CSMP?")) == ["+CSMP: 49,167,0,8"]
    assert info(at(m, "AT+CSMS=0")) == ["+CSMS: 1,1,1"]
    assert info(at(m, "AT+CSDH?")) == ["+CSDH: 0"]


# ---------------------------------------------------------------- storage


def test_cpms_counts_and_storages() -> None:
    m = modem()
    assert info(at(m, "AT+CPMS=?")) == ['+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")']
    m.deliver("+38344123456", "one", NOW)
    assert info(at(m, "AT+CPMS?")) == ['+CPMS: "SM",1,20,"SM",1,20,"SM",1,20']
    assert info(at(m, 'AT+CPMS="ME","ME","ME"')) == ["+CPMS: 0,50,0,50,0,50"]
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+CPMS="XX"') == b"\r\n+CMS ERROR: 302\r\n"


def test_me_storage_starts_at_index_0() -> None:
    m = modem()
    at(m, 'AT+CPMS="ME","ME","ME"')
    out, pdus = m.deliver("+38344123456", "to the phone memory", NOW)
    assert out.data == b'\r\n+CMTI: "ME",0\r\n'
    assert info(at(m, "AT+CMGR=0")) == [f"+CMGR: 0,,{codec.tpdu_length(pdus[0])}", pdus[0]]


def test_deliver_to_an_explicit_storage() -> None:
    m = modem()
    out, _ = m.deliver("+38344123456", "x", NOW, storage="ME")
    assert out.data == b'\r\n+CMTI: "ME",0\r\n'
    assert [s.storage for s in m.stored()] == ["ME"]


def test_cmgl_pdu_mode_stat_filters_and_marks_read() -> None:
    m = modem()
    m.deliver("+38344123456", "first", NOW)
    _, [second] = m.deliver("+38344123456", "second", NOW)
    at(m, "AT+CMGR=1")  # now read
    unread = info(at(m, "AT+CMGL=0"))
    assert unread[0] == f"+CMGL: 2,0,,{codec.tpdu_length(second)}"
    assert codec.decode_deliver(unread[1]).text == "second"
    assert info(at(m, "AT+CMGL=0")) == []  # listing marked it read
    listed = info(at(m, "AT+CMGL=4"))
    assert [x.split(",")[:2] for x in listed[::2]] == [["+CMGL: 1", "1"], ["+CMGL: 2", "1"]]
    assert len(info(at(m, "AT+CMGL=1"))) == 4
    assert info(at(m, "AT+CMGL=2")) == []
    assert info(at(m, "AT+CMGL=3")) == []
    assert info(at(m, "AT+CMGL")) == []  # default: REC UNREAD
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CMGL=7") == b"\r\n+CMS ERROR: 304\r\n"
    assert at(m, "AT+CMGL=?").endswith(b"+CMGL: (0-4)\r\n" + OK)


def test_cmgl_and_cmgr_text_mode() -> None:
    m = modem()
    m.deliver("+38344123456", "Bilanc €", NOW)
    m.deliver("+38344123456", "Përshëndetje", NOW)
    at(m, "AT+CMGF=1")
    lines = info(at(m, 'AT+CMGL="ALL"'))
    assert re.fullmatch(r'\+CMGL: 1,"REC UNREAD","\+38344123456",,"26/11/27,13:00:00\+04"',
                        lines[0])
    assert lines[1] == "Bilanc ?"  # IRA cannot show the euro sign
    assert lines[3] == "Përshëndetje".encode("utf-16-be").hex().upper()  # UCS-2: hex
    at(m, 'AT+CSCS="UTF-8"')
    assert info(at(m, "AT+CMGR=1"))[1].encode("latin-1").decode() == "Bilanc €"
    # python-gsmmodem-new's text-mode +CMGR pattern
    assert re.match(r'^\+CMGR: "([^"]+)","([^"]+)",[^,]*,"([^"]+)"$', info(at(m, "AT+CMGR=1"))[0])
    assert info(at(m, 'AT+CMGL="REC UNREAD"')) == []
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+CMGL="NEW"') == b"\r\n+CMS ERROR: 302\r\n"


def test_cmgr_shows_the_smsc_and_empty_or_bad_slots_fail() -> None:
    m = modem()
    _, pdus = m.deliver("+38344123456", "hi", NOW)
    head, body = info(at(m, "AT+CMGR=1"))
    assert head == f"+CMGR: 0,,{codec.tpdu_length(pdus[0])}"
    assert body == pdus[0]
    assert body.startswith("07918343040001F0")  # SMSC +38344000100 included
    assert info(at(m, "AT+CMGR=1"))[0].startswith("+CMGR: 1,,")  # read now
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CMGR=2") == b"\r\n+CMS ERROR: 321\r\n"
    assert at(m, "AT+CMGR=99") == b"\r\n+CMS ERROR: 321\r\n"
    assert at(m, "AT+CMGR=x") == b"\r\n+CMS ERROR: 321\r\n"


@pytest.mark.parametrize(("delflag", "left"), [(1, {2, 3, 4}), (2, {2, 3}), (3, {2}), (4, set())])
def test_cmgd_delflags(delflag: int, left: set[int]) -> None:
    m = modem()
    m.deliver_pdu(codec.deliver_pdus("+38344123456", "read", NOW, smsc=None)[0], NOW)
    m.deliver_pdu(codec.deliver_pdus("+38344123456", "unread", NOW, smsc=None)[0], NOW)
    m.deliver_pdu(submit_pdu("stored unsent"), NOW, stat=2)
    m.deliver_pdu(submit_pdu("stored sent"), NOW, stat=3)
    m.deliver_pdu(codec.deliver_pdus("+38344123456", "other read", NOW, smsc=None)[0], NOW)
    at(m, "AT+CMGR=1")
    at(m, "AT+CMGR=5")
    # stats now: 1 read, 2 unread, 3 unsent, 4 sent, 5 read
    assert at(m, f"AT+CMGD=1,{delflag}") == OK
    assert {s.index for s in m.stored()} == left


def test_cmgd_by_index() -> None:
    m = modem()
    m.deliver("+38344123456", "a", NOW)
    m.deliver("+38344123456", "b", NOW)
    assert at(m, "AT+CMGD=1") == OK
    assert [s.index for s in m.stored()] == [2]
    assert at(m, "AT+CMGD=1") == OK  # an empty slot: OK, as most modems answer
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CMGD=0") == b"\r\n+CMS ERROR: 321\r\n"  # SM starts at 1
    assert at(m, "AT+CMGD=?") == b"\r\n+CMGD: (2),(0-4)\r\n" + OK


# ---------------------------------------------------------------- notices


def test_cnmi_read_test_and_set() -> None:
    m = modem()
    assert info(at(m, "AT+CNMI?")) == ["+CNMI: 2,1,0,0,0"]
    assert info(at(m, "AT+CNMI=?")) == ["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"]
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CNMI=2,9") == b"\r\n+CMS ERROR: 303\r\n"
    assert at(m, "AT+CNMI=2,1,0,1,0") == OK
    assert info(at(m, "AT+CNMI?")) == ["+CNMI: 2,1,0,1,0"]


def test_cnmi_mt2_routes_cmt_with_the_pdu() -> None:
    m = modem()
    at(m, "AT+CNMI=2,2,0,0,0")
    out, pdus = m.deliver("+38344123456", "straight through", NOW)
    assert out.data == f"\r\n+CMT: ,{codec.tpdu_length(pdus[0])}\r\n{pdus[0]}\r\n".encode()
    assert m.stored() == []


def test_cnmi_mt0_and_mode0() -> None:
    m = modem()
    at(m, "AT+CNMI=2,0,0,0,0")
    assert m.deliver("+38344123456", "silent", NOW)[0].data == b""
    assert len(m.stored()) == 1
    at(m, "AT+CNMI=0,1,0,0,0")
    assert m.deliver("+38344123456", "buffered", NOW)[0].data == b""
    assert at(m, "AT+CNMI=2,1,0,0,0") == OK + b'\r\n+CMTI: "SM",2\r\n'  # buffer flushed


def test_sim_full_stops_cmti_until_space_is_freed() -> None:
    m = modem(sm_capacity=2)
    assert m.deliver("+38344123456", "1", NOW)[0].data == b'\r\n+CMTI: "SM",1\r\n'
    assert m.deliver("+38344123456", "2", NOW)[0].data == b'\r\n+CMTI: "SM",2\r\n'
    assert m.deliver("+38344123456", "3", NOW)[0].data == b""  # full: no notice
    assert info(at(m, "AT+CPMS?"))[0].startswith('+CPMS: "SM",2,2')
    assert at(m, "AT+CMGD=1") == OK + b'\r\n+CMTI: "SM",1\r\n'  # the SMSC retried


def test_sim_full_fault_and_reset() -> None:
    m = modem()
    m.fault("sim-full", NOW, storage="SM")
    assert m.deliver("+38344123456", "waits", NOW)[0].data == b""
    assert m.reset_faults(NOW).data == b'\r\n+CMTI: "SM",1\r\n'


# ---------------------------------------------------------------- sending


def test_cmgs_pdu_mode() -> None:
    m = modem()
    pdu = submit_pdu("Bilanci: 12,50 EUR €", smsc="+38344000100")
    assert send(m, pdu) == b"\r\n+CMGS: 0\r\n" + OK
    assert send(m, submit_pdu("again")) == b"\r\n+CMGS: 1\r\n" + OK
    sent = m.sent()
    assert [(s.to, s.text, s.parts) for s in sent] == [
        ("+38344123456", "Bilanci: 12,50 EUR €", 1), ("+38344123456", "again", 1)]


def test_cmgs_prompt_is_echoed_with_echo_on() -> None:
    m = modem(echo=True)
    pdu = submit_pdu("x")
    assert at(m, f"AT+CMGS={codec.tpdu_length(pdu)}") == (
        f"AT+CMGS={codec.tpdu_length(pdu)}\r".encode() + b"\r\n> ")
    assert m.feed(pdu.encode() + b"\x1a", NOW).data == pdu.encode() + b"\x1a\r\n+CMGS: 0\r\n" + OK


def test_message_reference_wraps_at_256() -> None:
    m = modem()
    m.mr = 255
    assert send(m, submit_pdu()) == b"\r\n+CMGS: 255\r\n" + OK
    assert send(m, submit_pdu()) == b"\r\n+CMGS: 0\r\n" + OK


def test_cmgs_escape_cancels() -> None:
    m = modem()
    at(m, "AT+CMGS=20")
    assert m.feed(b"0011000C91\x1b", NOW).data == OK
    assert at(m, "AT") == OK
    assert m.sent(include_incomplete=True) == []


@pytest.mark.parametrize("bad", ["", "ZZ", "0011", "00110", "0001000C9183", "0041000C918343"
                                 "2143650000FF05E8329BFD06FF"])
def test_malformed_pdu_is_cms_304(bad: str) -> None:
    m = modem()
    at(m, "AT+CMEE=1")
    assert send(m, bad, length=12) == b"\r\n+CMS ERROR: 304\r\n"
    assert at(m, "AT") == OK


def test_length_mismatch_is_cms_304() -> None:
    m = modem()
    at(m, "AT+CMEE=1")
    pdu = submit_pdu()
    assert send(m, pdu, length=codec.tpdu_length(pdu) + 1) == b"\r\n+CMS ERROR: 304\r\n"
    assert at(m, "AT+CMGS=2") == b"\r\n+CMS ERROR: 304\r\n"  # no TPDU is that short


def test_concatenated_parts_are_joined_in_sent() -> None:
    m = modem()
    for seq, chunk in ((1, "Hello "), (2, "world")):
        send(m, submit_pdu(chunk, concat=codec.Concat(7, 2, seq)))
    assert [(s.text, s.parts, s.refs) for s in m.sent()] == [("Hello world", 2, (0, 1))]


def test_incomplete_concatenation_is_hidden_unless_asked() -> None:
    m = modem()
    send(m, submit_pdu("half", concat=codec.Concat(9, 2, 1)))
    assert m.sent() == []
    [partial] = m.sent(include_incomplete=True)
    assert (partial.text, partial.complete) == ("half", False)


def test_cmgs_text_mode_with_csmp_and_lines() -> None:
    m = modem()
    at(m, "AT+CMGF=1")
    assert at(m, 'AT+CMGS="+38344123456"') == b"\r\n> "
    assert m.feed(b"line one\rline two\x1a", NOW).data == b"\r\n> \r\n+CMGS: 0\r\n" + OK
    at(m, "AT+CSMP=17,167,0,8")
    at(m, 'AT+CSCS="UCS2"')
    at(m, 'AT+CMGS="002B00330038003300340034003100320033003400350036"')
    m.feed("ë€".encode("utf-16-be").hex().encode() + b"\x1a", NOW)
    assert [(s.to, s.text, s.alphabet) for s in m.sent()] == [
        ("+38344123456", "line one\nline two", "gsm7"), ("+38344123456", "ë€", "ucs2")]


def test_status_report_after_a_submit_with_srr() -> None:
    m = modem()
    at(m, "AT+CNMI=2,1,0,1,0")
    pdu = submit_pdu("report me", srr=True)
    n = codec.tpdu_length(pdu)
    at(m, f"AT+CMGS={n}")
    out = m.feed(pdu.encode() + b"\x1a", NOW)
    [timer] = out.timers
    assert timer.kind == "status-report"
    cds = m.fire(timer, NOW + timedelta(seconds=11)).data.decode()
    match = re.fullmatch(r"\r\n\+CDS: (\d+)\r\n([0-9A-F]+)\r\n", cds)
    assert match is not None
    report = codec.decode_status_report(match.group(2))
    assert (report.mr, report.recipient, report.status) == (0, "+38344123456", 0)
    assert int(match.group(1)) == codec.tpdu_length(match.group(2))


def test_status_report_stored_with_ds2_and_none_without_srr() -> None:
    m = modem()
    at(m, "AT+CNMI=2,1,0,2,0")
    pdu = submit_pdu("r", srr=True)
    at(m, f"AT+CMGS={codec.tpdu_length(pdu)}")
    [timer] = m.feed(pdu.encode() + b"\x1a", NOW).timers
    assert m.fire(timer, NOW).data == b'\r\n+CDSI: "SM",1\r\n'
    assert codec.message_type(m.stored()[0].pdu) == "status-report"
    pdu = submit_pdu("no report")
    at(m, f"AT+CMGS={codec.tpdu_length(pdu)}")
    assert m.feed(pdu.encode() + b"\x1a", NOW).timers == []


# ---------------------------------------------------------------- faults


def test_no_answer_for_the_next_n_commands() -> None:
    m = modem()
    m.fault("no-answer", NOW, count=2)
    assert at(m, "AT") == b""
    assert at(m, "AT+CSQ") == b""
    assert at(m, "AT") == OK


def test_error_and_cme_error_faults() -> None:
    m = modem()
    at(m, "AT+CMEE=1")
    m.fault("error", NOW)
    assert at(m, "AT") == b"\r\nERROR\r\n"
    m.fault("cme-error", NOW, code=10, match="+CPIN")
    assert at(m, "AT+CSQ").endswith(OK)
    assert at(m, "AT+CPIN?") == b"\r\n+CME ERROR: 10\r\n"


@pytest.mark.parametrize("code", [500, 331, 322])
def test_cms_error_only_for_matching_commands(code: int) -> None:
    m = modem()
    at(m, "AT+CMEE=1")
    m.fault("cms-error", NOW, code=code, match="+CMGS", count=2)
    m.deliver("+38344123456", "x", NOW)
    assert at(m, "AT+CMGD=1") == OK  # not affected
    assert send(m, submit_pdu()) == f"\r\n+CMS ERROR: {code}\r\n".encode()
    assert send(m, submit_pdu()) == f"\r\n+CMS ERROR: {code}\r\n".encode()
    assert send(m, submit_pdu()) == b"\r\n+CMGS: 0\r\n" + OK
    m.fault("cms-error", NOW, code=321, match="+CMGD")
    assert at(m, "AT+CMGD=1") == b"\r\n+CMS ERROR: 321\r\n"


def test_no_answer_to_a_submit_that_went_out_anyway() -> None:
    m = modem()
    m.fault("no-answer", NOW, match="+CMGS")
    assert send(m, submit_pdu("ghost")) == b""
    assert [s.text for s in m.sent()] == ["ghost"]
    assert at(m, "AT") == OK


def test_a_status_report_for_a_full_storage_waits_at_the_network() -> None:
    """As a message does: no slot, no +CDSI; stored and announced once there is room."""
    m = modem()
    at(m, "AT+CNMI=2,1,0,2,0")
    m.fault("sim-full", NOW)
    pdu = submit_pdu("full", srr=True)
    at(m, f"AT+CMGS={codec.tpdu_length(pdu)}")
    [timer] = m.feed(pdu.encode() + b"\x1a", NOW).timers
    assert m.fire(timer, NOW).data == b""
    assert m.stored() == []
    assert m.reset_faults(NOW).data == b'\r\n+CDSI: "SM",1\r\n'
    assert codec.message_type(m.stored()[0].pdu) == "status-report"


def test_a_submit_with_no_answer_still_gets_its_status_report() -> None:
    """It went out: the network reports it, whether or not the client heard +CMGS."""
    m = modem()
    at(m, "AT+CNMI=2,1,0,2,0")
    m.fault("no-answer", NOW, match="+CMGS")
    pdu = submit_pdu("ghost", srr=True)
    at(m, f"AT+CMGS={codec.tpdu_length(pdu)}")
    out = m.feed(pdu.encode() + b"\x1a", NOW)
    assert out.data == b""
    [timer] = out.timers
    assert m.fire(timer, NOW).data == b'\r\n+CDSI: "SM",1\r\n'
    report = codec.decode_status_report(m.stored()[0].pdu)
    assert (report.mr, report.recipient) == (m.sent_parts[0].mr, "+38344123456")


def test_late_answer_is_one_delayed_chunk() -> None:
    m = modem()
    m.fault("late", NOW, delay=12.5, match="+CSQ")
    out = m.feed(b"AT+CSQ\r", NOW)
    assert [(c.delay, c.data) for c in out.chunks] == [(12.5, b"\r\n+CSQ: 20,99\r\n" + OK)]


def test_non_utf8_byte_inside_an_answer() -> None:
    m = modem()
    m.fault("non-utf8", NOW, match="+CSQ")
    answer = at(m, "AT+CSQ")
    assert b"\xff" in answer
    assert answer.endswith(OK)
    with pytest.raises(UnicodeDecodeError):
        answer.decode("utf-8")
    assert at(m, "AT+CSQ") == b"\r\n+CSQ: 20,99\r\n" + OK


def test_garbage_on_the_line() -> None:
    m = Interpreter(ModemConfig(), rng_seed=3)
    noise = m.fault("garbage", NOW, count=32).data
    assert len(noise) == 32
    assert b"\r" not in noise
    assert b"\n" not in noise


def test_cmti_inside_another_answer() -> None:
    m = modem()
    m.fault("cmti-inside-answer", NOW, match="+CPMS")
    assert m.deliver("+38344123456", "sneaky", NOW)[0].data == b""
    answer = at(m, "AT+CPMS?")
    assert answer == (b'\r\n+CMTI: "SM",1\r\n\r\n+CPMS: "SM",1,20,"SM",1,20,"SM",1,20\r\n' + OK)


def test_two_cmti_in_one_burst() -> None:
    m = modem()
    m.fault("cmti-burst", NOW, count=2)
    assert m.deliver("+38344123456", "one", NOW)[0].data == b""
    out = m.deliver("+38344123456", "two", NOW)[0]
    assert out.chunks == [type(out.chunks[0])(b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n')]


def test_notice_during_a_prompt_waits_for_its_end() -> None:
    m = modem()
    pdu = submit_pdu()
    at(m, f"AT+CMGS={codec.tpdu_length(pdu)}")
    assert m.deliver("+38344123456", "meanwhile", NOW)[0].data == b""
    assert m.feed(pdu.encode() + b"\x1a", NOW).data == (
        b'\r\n+CMGS: 0\r\n\r\nOK\r\n\r\n+CMTI: "SM",1\r\n')


def test_parts_out_of_order_and_a_missing_part() -> None:
    m = modem()
    text = "x" * 400  # three parts
    out, pdus = m.deliver("+38344123456", text, NOW, parts_order=[3, 1, 2], drop_part=1)
    assert len(pdus) == 2
    seqs = [codec.decode_deliver(s.pdu).concat for s in m.stored()]
    assert [c.seq for c in seqs if c] == [3, 2]
    assert out.data == b'\r\n+CMTI: "SM",1\r\n'  # the first part's notice at once
    [later] = out.timers  # the next one a moment later, not in the same burst
    assert later.kind == "notice"
    assert later.delay > 0
    assert m.fire(later, NOW).data == b'\r\n+CMTI: "SM",2\r\n'
    with pytest.raises(ValueError, match="permutation"):
        m.deliver("+38344123456", text, NOW, parts_order=[1, 1, 2])


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        modem().fault("meteor", NOW)


# ---------------------------------------------------------------- delivery encoding


def test_delivery_picks_ucs2_for_albanian_letters_and_splits_like_a_network() -> None:
    m = modem()
    _, [one] = m.deliver("+38344123456", "Bilanc", NOW)
    assert codec.decode_deliver(one).dcs == codec.DCS_GSM7
    _, [ucs] = m.deliver("+38344123456", "Bilanc kursimi në llogari", NOW)
    assert codec.decode_deliver(ucs).dcs == codec.DCS_UCS2
    _, forced = m.deliver("+38344123456", "plain", NOW, ucs2=True)
    assert codec.decode_deliver(forced[0]).dcs == codec.DCS_UCS2
    _, long_gsm = m.deliver("+38344123456", "a" * 307, NOW)
    assert [len(codec.decode_deliver(p).text) for p in long_gsm] == [153, 153, 1]
    _, long_ucs = m.deliver("+38344123456", "ë" * 135, NOW)
    assert [len(codec.decode_deliver(p).text) for p in long_ucs] == [67, 67, 1]
    scts = codec.decode_deliver(one).scts
    assert scts.utcoffset() == timedelta(hours=1)  # Kosovo, winter
    assert scts == NOW


def test_deliver_pdu_keeps_it_verbatim_and_refuses_control_characters() -> None:
    m = modem()
    odd = "0BD04259303784=96p331p7116"
    m.deliver_pdu(odd, NOW)
    assert info(at(m, "AT+CMGR=1")) == [f"+CMGR: 0,,{codec.tpdu_length(odd)}", odd]
    assert codec.tpdu_length(odd) == 13 - 1 - 0x0B
    with pytest.raises(ValueError, match="printable"):
        m.deliver_pdu("0011\r\nOK", NOW)


# ---------------------------------------------------------------- delays


def test_realistic_delays_are_seeded_and_grow_with_the_list() -> None:
    def answer_delays(seed: int, messages: int) -> list[float]:
        m = Interpreter(ModemConfig(sm_capacity=200), DelayModel("realistic", seed))
        m.feed(b"ATE0\r", NOW)
        for i in range(messages):
            m.deliver("+38344123456", f"m{i}", NOW)
        out = Output()
        for cmd in (b"AT+CSQ\r", b"AT+CMGL=4\r"):
            out.extend(m.feed(cmd, NOW))
        pdu = submit_pdu()
        m.feed(f"AT+CMGS={codec.tpdu_length(pdu)}\r".encode(), NOW)
        out.extend(m.feed(pdu.encode() + b"\x1a", NOW))
        return [c.delay for c in out.chunks]

    a = answer_delays(1, 5)
    assert a == answer_delays(1, 5)
    assert a != answer_delays(2, 5)
    assert 0 < a[0] < 0.1
    assert 1.0 <= a[2] <= 4.0
    assert answer_delays(1, 100)[1] > a[1] + 1.0
    with pytest.raises(ValueError, match="none or realistic"):
        DelayModel("slow")


def test_no_delay_model_answers_at_once() -> None:
    m = modem()
    assert all(c.delay == 0 for c in m.feed(b"AT+CMGL=4\r", NOW).chunks)


# ---------------------------------------------------------------- bad input


def test_over_long_line_is_refused_and_the_modem_recovers() -> None:
    m = modem()
    assert at(m, "AT+" + "A" * 5000) == b"\r\nERROR\r\n"
    assert at(m, "AT") == OK


def test_over_long_pdu_is_refused() -> None:
    m = modem()
    at(m, "AT+CMEE=1")
    at(m, "AT+CMGS=20")
    assert m.feed(b"00" * 3000 + b"\x1a", NOW).data == b"\r\n+CMS ERROR: 304\r\n"


def test_binary_garbage_gets_an_answer() -> None:
    m = modem()
    assert m.feed(bytes(range(256)) + b"\r", NOW).data.endswith(b"ERROR\r\n")
    assert at(m, "AT") == OK


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_never_crash_and_the_modem_recovers(noise: bytes) -> None:
    m = modem()
    m.feed(noise, NOW)
    # whatever state the noise left (a half line, an open prompt), ESC and AT recover it
    answer = m.feed(b"\x1b\rATE0\r\x1bAT\r", NOW).data
    assert answer.endswith(OK)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    "AT", "ATE1", "ATZ", "AT+CMEE=2", "AT+CMGF=1", "AT+CMGF=0", "AT+CMGL=4", 'AT+CMGL="ALL"',
    "AT+CMGR=1", "AT+CMGD=1,4", 'AT+CPMS="ME"', "AT+CNMI=2,2,0,1,0", "AT+CSCS=\"UCS2\"",
    "AT+CMGS=5", "AT+CPIN?", "AT+COPS?", "AT+CREG=2", "AT+CFUN=0", "AT+CFUN=1"]),
    max_size=25))
def test_every_command_line_gets_a_final_result(lines: list[str]) -> None:
    m = modem()
    m.deliver("+38344123456", "Përshëndetje", NOW)
    for line in lines:
        answer = at(m, line)
        if line.startswith("AT+CMGS"):
            assert answer.endswith(b"> ") or b"ERROR" in answer
            if answer.endswith(b"> "):
                answer = m.feed(b"\x1b", NOW).data
        assert re.search(rb"(OK|ERROR|ERROR: [^\r]*)\r\n$", answer), (line, answer)


def test_multi_line_answers_are_framed_as_a_modem_frames_them() -> None:
    m = modem()
    _, [a] = m.deliver("+38344123456", "one", NOW)
    _, [b] = m.deliver("+38344123456", "two", NOW)
    la, lb = codec.tpdu_length(a), codec.tpdu_length(b)
    assert at(m, "AT+CMGL=4") == (
        f"\r\n+CMGL: 1,0,,{la}\r\n{a}\r\n+CMGL: 2,0,,{lb}\r\n{b}\r\n".encode() + OK)
    assert at(m, "AT+CMGR=2") == f"\r\n+CMGR: 1,,{lb}\r\n{b}\r\n".encode() + OK
    assert at(m, "AT+CSQ;+CREG?") == b"\r\n+CSQ: 20,99\r\n\r\n+CREG: 0,1\r\n" + OK


def test_cmti_between_the_lines_of_a_listing() -> None:
    m = modem()
    _, [a] = m.deliver("+38344123456", "one", NOW)
    m.fault("cmti-inside-answer", NOW, match="+CMGL")
    _, [b] = m.deliver("+38344123456", "two", NOW)
    assert at(m, "AT+CMGL=4") == (
        f"\r\n+CMGL: 1,0,,{codec.tpdu_length(a)}\r\n{a}\r\n".encode()
        + b'\r\n+CMTI: "SM",2\r\n'
        + f"+CMGL: 2,0,,{codec.tpdu_length(b)}\r\n{b}\r\n".encode() + OK)


def test_text_mode_status_reports_and_stored_submits() -> None:
    m = modem()
    at(m, "AT+CMGF=1")
    at(m, "AT+CNMI=2,1,0,1,0")
    at(m, "AT+CSMP=49,167,0,0")
    at(m, 'AT+CMGS="+38344123456"')
    [timer] = m.feed(b"report me\x1a", NOW).timers
    cds = m.fire(timer, NOW + timedelta(seconds=5)).data
    assert cds == (b'\r\n+CDS: 6,0,"+38344123456",145,"26/11/27,13:00:00+04",'
                   b'"26/11/27,13:00:05+04",0\r\n')
    m.deliver_pdu(codec.encode_status_report(7, "+38344123456", NOW, NOW, smsc=None), NOW)
    m.deliver_pdu(submit_pdu("draft", to="+38349234567"), NOW, stat=2)
    # python-gsmmodem-new's text-mode status report pattern
    report = info(at(m, "AT+CMGR=1"))[0]
    assert re.match(r'^\+CMGR: ([^,]*),\d+,(\d+),"{0,1}([^"]*)"{0,1},\d*,"([^"]+)","([^"]+)",'
                    r"(\d+)$", report)
    assert info(at(m, "AT+CMGR=2")) == ['+CMGR: "STO UNSENT","+38349234567",', "draft"]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400), st.booleans())
def test_what_is_delivered_is_what_cmgr_shows(text: str, ucs2: bool) -> None:
    m = modem(sm_capacity=40)  # 400 emoji are 800 UCS-2 units: 12 parts
    _, pdus = m.deliver("+38344123456", text, NOW, ucs2=ucs2)
    parts = []
    for i in range(1, len(pdus) + 1):
        head, pdu = info(at(m, f"AT+CMGR={i}"))
        assert head == f"+CMGR: 0,,{codec.tpdu_length(pdu)}"
        parts.append(codec.decode_deliver(pdu))
    assert "".join(p.text for p in sorted(parts, key=lambda p: p.concat.seq if p.concat else 0)
                   ) == text


def test_creg_2_notices_carry_the_cell() -> None:
    m = modem()
    at(m, "AT+CREG=2")
    assert m.fault("registration-lost", NOW).data == b"\r\n+CREG: 2\r\n"
    assert info(at(m, "AT+CREG?")) == ["+CREG: 2,2"]
    assert m.fault("registration-restored", NOW).data == b'\r\n+CREG: 1,"00A1","1B2C"\r\n'


def test_text_mode_escape_cancels_and_refused_texts() -> None:
    m = modem()
    at(m, "AT+CMGF=1")
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+CMGS="+38344123456"') == b"\r\n> "
    assert m.feed(b"never mind\x1b", NOW).data == OK
    assert at(m, 'AT+CMGS="+38344123456"') == b"\r\n> "
    assert m.feed(b"x" * 161 + b"\x1a", NOW).data == b"\r\n+CMS ERROR: 305\r\n"  # too long
    assert at(m, 'AT+CMGS=""') == b"\r\n+CMS ERROR: 305\r\n"
    assert m.sent(include_incomplete=True) == []


# ---------------------------------------------------------------- packet domain, status

def test_cgatt_and_cgreg_follow_registration() -> None:
    m = modem()
    assert info(at(m, "AT+CGATT?")) == ["+CGATT: 1"]
    assert info(at(m, "AT+CGATT=?")) == ["+CGATT: (0,1)"]
    assert info(at(m, "AT+CGREG?")) == ["+CGREG: 0,1"]
    assert at(m, "AT+CGREG=2") == OK
    assert info(at(m, "AT+CGREG?")) == ['+CGREG: 2,1,"00A1","1B2C"']
    assert at(m, "AT+CGATT=0") == OK
    assert info(at(m, "AT+CGATT?")) == ["+CGATT: 0"]
    assert info(at(m, "AT+CGREG?")) == ["+CGREG: 2,0"]
    assert info(at(m, "AT+CREG?")) == ["+CREG: 0,1"]  # circuit domain untouched
    assert at(m, "AT+CGATT=1") == OK
    at(m, "AT+CFUN=0")
    assert info(at(m, "AT+CGATT?")) == ["+CGATT: 0"]
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CGATT=1") == b"\r\n+CME ERROR: 30\r\n"
    assert at(m, "AT+CGATT=2") == b"\r\nERROR\r\n"


def test_cgreg_notices_on_registration_changes() -> None:
    m = modem()
    at(m, "AT+CGREG=1")
    assert m.fault("registration-lost", NOW).data == b"\r\n+CGREG: 2\r\n"
    assert m.fault("registration-restored", NOW).data == b"\r\n+CGREG: 1\r\n"
    at(m, "AT+CREG=2;+CGREG=2")
    assert m.fault("registration-lost", NOW).data == b"\r\n+CREG: 2\r\n\r\n+CGREG: 2\r\n"


def test_cops_numeric_is_digits_whatever_the_charset() -> None:
    m = modem()
    at(m, 'AT+CSCS="HEX"')
    at(m, "AT+COPS=3,2")
    assert info(at(m, "AT+COPS?")) == ['+COPS: 0,2,"22101",2']
    at(m, "AT+COPS=3,0")
    assert info(at(m, "AT+COPS?")) == ['+COPS: 0,0,"56616C61",2']


def test_cpas_cbc_cusd() -> None:
    m = modem()
    assert info(at(m, "AT+CPAS")) == ["+CPAS: 0"]
    assert info(at(m, "AT+CPAS=?")) == ["+CPAS: (0-5)"]
    assert info(at(m, "AT+CBC")) == ["+CBC: 1,100"]
    assert info(at(m, "AT+CUSD?")) == ["+CUSD: 0"]
    assert at(m, "AT+CUSD=1") == OK
    assert info(at(m, "AT+CUSD?")) == ["+CUSD: 1"]
    assert at(m, "AT+CUSD=2") == OK  # cancels a session; the setting stays
    assert info(at(m, "AT+CUSD?")) == ["+CUSD: 1"]
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+CUSD=1,"*100#",15') == b"\r\n+CME ERROR: 4\r\n"
    at(m, "ATZE0")
    assert info(at(m, "AT+CUSD?")) == ["+CUSD: 0"]


def test_command_table_is_built_once_for_the_class() -> None:
    a, b = modem(), modem()
    assert a.HANDLERS is b.HANDLERS is Interpreter.HANDLERS
    assert "+CLAC" in Interpreter.HANDLERS
    at(a, "AT+CMGF=1")
    assert a.HANDLERS is Interpreter.HANDLERS


def test_switches_keep_their_value_until_atz() -> None:
    m = modem()
    assert info(at(m, "AT+CLIP?")) == ["+CLIP: 0,1"]
    at(m, "AT+CLIP=1;+CRC=1")
    assert info(at(m, "AT+CLIP?;+CRC?")) == ["+CLIP: 1,1", "+CRC: 1"]
    at(m, "ATZE0")
    assert info(at(m, "AT+CLIP?")) == ["+CLIP: 0,1"]


def test_faults_are_kinds_not_strings() -> None:
    from appliance.fakemodem.model import FaultKind
    m = modem()
    m.fault("cms_error", NOW, code=331)
    assert m.faults[0].kind is FaultKind.CMS_ERROR
    with pytest.raises(ValueError, match="unknown fault 'nope'; known: no-answer"):
        m.fault("nope", NOW)
