"""The Modem wrapper against the project's fake modem (appliance.fakemodem) on a real pty:
whole flows and the fake's fault kinds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.server import FakeModemServer
from appliance.modem.errors import CmeError, CmsError, CommandError, ModemGone, ModemTimeout
from appliance.modem.pdu import PduError, decode, decode_deliver
from appliance.modem.types import Deliver, StatusReport
from appliance.modem.wrapper import Modem
from tests.helpers import wait_for
from tests.test_modem_pdu import corpus_pdus

SENDER = "+38344123456"


class Events:
    def __init__(self) -> None:
        self.new: list[tuple[str, int]] = []
        self.reports: list[StatusReport] = []
        self.gone = threading.Event()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeModemServer]:
    server = FakeModemServer(tmp_path / "ttyFAKE", tmp_path / "state", delay="none")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def events() -> Events:
    return Events()


def connect(fake: FakeModemServer, events: Events, **kwargs: object) -> Modem:
    params: dict[str, object] = {
        "command_timeout": 3.0, "send_timeout": 5.0, "prompt_timeout": 2.0,
        "on_new_message": lambda s, i: events.new.append((s, i)),
        "on_status_report": events.reports.append,
        "on_gone": events.gone.set,
    }
    params.update(kwargs)
    m = Modem(str(fake.link), **params)  # type: ignore[arg-type]
    m.open()
    return m


def listening(fake: FakeModemServer) -> Iterator[tuple[Modem, Events]]:
    """A `modem` fixture's body: an open modem on `fake` and what it heard; closed after."""
    events = Events()
    m = connect(fake, events)
    yield m, events
    m.close()


@pytest.fixture
def modem(fake: FakeModemServer, events: Events) -> Iterator[Modem]:
    m = connect(fake, events)
    yield m
    m.close()


def inbound(modem: Modem) -> list[Deliver]:
    return [decode_deliver(s.pdu) for s in modem.list_stored() if s.received]


# ---------------------------------------------------------------- flows


def test_status_and_identity(modem: Modem) -> None:
    assert modem.ping()
    info = modem.info()
    assert info.manufacturer
    assert info.imei
    assert info.imsi
    assert modem.registration().registered
    rssi, _ber = modem.signal()
    assert 0 <= rssi <= 31
    assert modem.signal_dbm() is not None
    assert modem.operator_name()
    assert modem.smsc()
    usage = modem.storage_usage()
    assert set(usage) == set(modem.storages)
    assert all(total > 0 for _used, total in usage.values())


def test_receive_store_delete(modem: Modem, fake: FakeModemServer, events: Events) -> None:
    fake.deliver(SENDER, "B")
    wait_for(lambda: events.new, timeout=5, what="+CMTI")
    storage, index = events.new[0]
    (msg,) = [s for s in modem.list_stored() if s.received]
    assert (msg.storage, msg.index) == (storage, index)
    d = decode_deliver(msg.pdu)
    assert (d.sender, d.text, d.concat) == (SENDER, "B", None)
    modem.delete(msg.storage, msg.index)
    assert modem.list_stored() == []
    assert fake.stored() == []


def test_14_long_and_ucs2_messages_expose_concat(modem: Modem, fake: FakeModemServer,
                                                 events: Events) -> None:
    text = "Dua te di bilancin e llogarisë sime 😀 " * 5
    fake.deliver(SENDER, text, parts_order=[2, 3, 1])
    parts = inbound(modem)
    assert len(parts) >= 3
    assert all(p.concat is not None and p.encoding == "ucs2" for p in parts)
    refs = {p.concat.ref for p in parts if p.concat}
    assert len(refs) == 1
    ordered = sorted(parts, key=lambda p: p.concat.seq if p.concat else 0)
    assert "".join(p.text for p in ordered) == text


def test_14_sixteen_bit_reference_gsm7(modem: Modem, fake: FakeModemServer) -> None:
    text = "Bilanc kursimi " * 15
    fake.deliver(SENDER, text, ref_bits=16)
    parts = sorted(inbound(modem), key=lambda p: p.concat.seq if p.concat else 0)
    assert len(parts) == 2
    assert "".join(p.text for p in parts) == text


def test_send_and_status_report(modem: Modem, fake: FakeModemServer, events: Events) -> None:
    result = modem.send(SENDER, "Bilanci: 1.234,56 EUR")
    (sent,) = fake.sent()
    assert (sent.to, sent.text, sent.parts) == (SENDER, "Bilanci: 1.234,56 EUR", 1)
    wait_for(lambda: taken(modem, events), timeout=10, what="the report")
    assert events.reports[0].ref == result.refs[0]
    assert events.reports[0].delivered


def taken(modem: Modem, events: Events) -> list[StatusReport]:
    """The reports handed over, once the modem's idle moment (`collect_reports`, which
    the outbox calls when it has nothing due) has read the noted ones (modem/reports.py)."""
    modem.collect_reports()
    return events.reports


def test_stored_report_is_read_handed_over_and_deleted(modem: Modem, fake: FakeModemServer,
                                                        events: Events) -> None:
    """ds=2: the report waits on the modem (`+CDSI`); collected, it is read, handed over
    as a `+CDS` would be, and its slot deleted; the inbox's listing never sees it."""
    assert modem.cnmi == "2,1,0,2,0"
    result = modem.send(SENDER, "raporto")
    wait_for(lambda: taken(modem, events), timeout=10, what="the stored report handed over")
    assert (events.reports[0].ref, events.reports[0].recipient) == (result.refs[0], SENDER)
    wait_for(lambda: fake.stored() == [], timeout=5, what="its slot deleted")
    assert events.new == []  # not announced as a message for the inbox


def test_report_that_came_while_the_port_was_closed_is_handed_over_at_the_next_listing(
        fake: FakeModemServer, events: Events) -> None:
    """The daemon dead when the report comes: a routed `+CDS` would be lost; a stored one
    is found by the next listing, handed over and deleted (issue 16)."""
    m = connect(fake, events)
    result = m.send(SENDER, "raporto")
    m.close()
    wait_for(fake.stored, timeout=10, what="the report stored on the modem")
    assert events.reports == []
    m = connect(fake, events)
    try:
        fake.deliver(SENDER, "B")
        listed = m.list_stored()
        assert [decode_deliver(s.pdu).text for s in listed] == ["B"]
        assert [r.ref for r in events.reports] == [result.refs[0]]
        m.collect_reports()  # its delete waits for a moment the modem would idle
        assert [codec_kind(s.pdu) for s in fake.stored()] == ["deliver"]
    finally:
        m.close()


def codec_kind(pdu: str) -> str | None:
    from appliance.fakemodem.pdu import message_type

    return message_type(pdu)


def test_11_no_report_when_not_asked(modem: Modem, fake: FakeModemServer,
                                     events: Events) -> None:
    modem.send(SENDER, "pa raport", request_report=False)
    modem.send(SENDER, "me raport", request_report=True)
    wait_for(lambda: taken(modem, events), timeout=10, what="the report")
    assert len(fake.sent()) == 2
    assert len(events.reports) == 1


def test_10_ucs2_and_long_sends(modem: Modem, fake: FakeModemServer) -> None:
    long_text = "Lëvizje në llogari: -12,50 EUR. " * 6
    result = modem.send(SENDER, long_text)
    modem.send(SENDER, "ok 👍")
    sent = fake.sent()
    assert [(s.text, s.parts) for s in sent] == [(long_text, len(result.refs)), ("ok 👍", 1)]
    assert [s.alphabet for s in sent] == ["ucs2", "ucs2"]


# ---------------------------------------------------------------- the fake's faults


def test_1_cmti_inside_answer(modem: Modem, fake: FakeModemServer, events: Events) -> None:
    fake.fault("cmti-inside-answer", match="+CSQ")
    fake.deliver(SENDER, "B")
    rssi, _ = modem.signal()
    assert 0 <= rssi <= 31
    wait_for(lambda: events.new, timeout=5, what="+CMTI from inside the answer")
    assert len(inbound(modem)) == 1


def test_2_cmti_burst(modem: Modem, fake: FakeModemServer, events: Events) -> None:
    fake.fault("cmti-burst", count=3)
    for text in ("B", "BK", "5"):
        fake.deliver(SENDER, text)
    wait_for(lambda: len(events.new) == 3, timeout=5, what="three +CMTI")
    assert sorted(d.text for d in inbound(modem)) == ["5", "B", "BK"]


def test_3_non_utf8_and_garbage(modem: Modem, fake: FakeModemServer, events: Events) -> None:
    fake.fault("non-utf8", match="+COPS")
    modem.operator_name()  # decoded with replacement characters, no crash
    fake.fault("garbage", count=64)
    assert modem.ping()
    fake.deliver(SENDER, "B")
    wait_for(lambda: events.new, timeout=5, what="+CMTI after garbage")


def test_4_late_answer_is_discarded(fake: FakeModemServer, events: Events) -> None:
    m = connect(fake, events, command_timeout=0.5)
    try:
        fake.fault("late", match="+CSQ", delay=1.0)
        with pytest.raises(ModemTimeout):
            m.signal()
        fake.fault("signal", value=7)
        assert m.signal()[0] == 7
    finally:
        m.close()


def test_no_answer_then_recovers(fake: FakeModemServer, events: Events) -> None:
    m = connect(fake, events, command_timeout=0.5)
    try:
        fake.fault("no-answer", match="+CREG")
        with pytest.raises(ModemTimeout):
            m.registration()
        assert m.registration().registered
    finally:
        m.close()


@pytest.mark.parametrize(("kind", "code", "error"), [
    ("error", None, CommandError), ("cms-error", 332, CmsError), ("cme-error", 10, CmeError),
])
def test_7_error_faults_end_commands_at_once(modem: Modem, fake: FakeModemServer, kind: str,
                                             code: int | None, error: type[Exception]) -> None:
    params = {} if code is None else {"code": code}
    fake.fault(kind, match="+CSQ", **params)
    with pytest.raises(error):
        modem.signal()
    assert modem.signal()[0] >= 0


def test_send_cms_error_from_the_network(modem: Modem, fake: FakeModemServer) -> None:
    fake.fault("registration-lost")
    with pytest.raises(CmsError) as err:
        modem.send(SENDER, "B")
    assert err.value.transient
    fake.fault("registration-restored")
    assert modem.send(SENDER, "B").refs


def test_8_vanish_and_reappear(fake: FakeModemServer, events: Events) -> None:
    m = connect(fake, events)
    try:
        fake.fault("vanish", reappear_after=0.3)
        assert events.gone.wait(5)
        with pytest.raises(ModemGone):
            m.signal()
        wait_for(fake.link.exists, timeout=5, what="the port to come back")
        m.reopen()
        assert m.ping()
        fake.deliver(SENDER, "B")
        wait_for(lambda: events.new, timeout=5, what="+CMTI after reopen")
    finally:
        m.close()


def test_storage_usage_counts_messages(modem: Modem, fake: FakeModemServer) -> None:
    fake.deliver(SENDER, "B")
    usage = modem.storage_usage()
    assert sum(used for used, _ in usage.values()) == 1


# ---------------------------------------------------------------- the real-PDU corpus


def _is_report(pdu: str) -> bool:
    try:
        return isinstance(decode(pdu), StatusReport)
    except PduError:
        return False


def test_6_corpus_pdus_stored_and_listed_in_place(modem: Modem, fake: FakeModemServer,
                                                  events: Events) -> None:
    corpus = corpus_pdus("decodes") + corpus_pdus("fails")
    hexes = [pdu for _name, pdu, _len in corpus]
    for n, pdu in enumerate(hexes):
        fake.deliver_pdu(pdu, storage="SM" if n < 15 else "ME")  # SM holds 20, ME 50
    stored = modem.list_stored()
    # Status reports go to on_status_report (and off the modem); everything else, the
    # undecodable too, is listed in place.
    kept = [(h.strip('"'), "SM" if n < 15 else "ME") for n, h in enumerate(hexes)
            if not _is_report(h.strip('"'))]
    assert 0 < len(kept) < len(hexes)
    assert [(s.pdu, s.storage) for s in stored] == kept
    assert len(events.reports) == len(hexes) - len(kept)
    outcomes = {"ok": 0, "refused": 0}
    for s in stored:
        try:
            decode(s.pdu)
            outcomes["ok"] += 1
        except PduError:
            outcomes["refused"] += 1
    assert outcomes["ok"] + len(events.reports) >= len(corpus_pdus("decodes"))
    # Deleting the middle one removes that one only.
    victim = stored[len(stored) // 2]
    modem.delete(victim.storage, victim.index)
    after = modem.list_stored()
    assert [(s.index, s.pdu) for s in after] == [(s.index, s.pdu) for s in stored
                                                 if s is not victim]


def test_realistic_delays_within_default_timeouts(tmp_path: Path, events: Events) -> None:
    with FakeModemServer(tmp_path / "ttyREAL", tmp_path / "real", delay="realistic",
                         seed=7) as server:
        m = Modem(str(server.link), on_new_message=lambda s, i: events.new.append((s, i)))
        m.open()
        try:
            server.deliver(SENDER, "BK")
            wait_for(lambda: events.new, timeout=10, what="+CMTI")
            (msg,) = [s for s in m.list_stored() if s.received]
            assert decode_deliver(msg.pdu).text == "BK"
            assert len(m.send(SENDER, "Bilanci kursimi: 10,00 EUR").refs) == 1
            m.delete(msg.storage, msg.index)
            assert server.stored() == []
        finally:
            m.close()
