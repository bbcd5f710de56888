"""Issue 17: direct delivery (`receive = "direct"`) between our wrapper and the fake
modem over a real pty: +CSMS=1 and +CNMI mt=2 at init, each message handed over by
+CMT and acknowledged by +CNMA (its "delete"), the next one held by the network until
then, and the fake modem's 27.005 ack timeout: +CNMI mt and ds to 0, the message
delivered again (stored now), found and +CNMI set again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.atclient import AtPort
from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer
from appliance.modem.direct import DIRECT
from appliance.modem.types import StatusReport
from appliance.modem.wrapper import Modem
from tests.helpers import wait_for

QUICK = ModemConfig(ack_timeout=0.6, redelivery_after=0.3)  # seconds (time scale 1)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeModemServer]:
    with FakeModemServer(tmp_path / "tty", tmp_path / "state", config=QUICK) as server:
        yield server


@pytest.fixture
def modem(fake: FakeModemServer) -> Iterator[tuple[Modem, list[tuple[str, int]]]]:
    notified: list[tuple[str, int]] = []
    m = Modem(str(fake.link), command_timeout=3.0, receive="direct",
              on_new_message=lambda storage, index: notified.append((storage, index)))
    m.open()
    yield m, notified
    m.close()


def lines(fake: FakeModemServer, start: int = 0) -> list[str]:
    return [line for line, _ in fake.history()[start:]]


def test_init_asks_for_acknowledged_direct_delivery(
        fake: FakeModemServer, modem: tuple[Modem, list[tuple[str, int]]]) -> None:
    m, _ = modem
    assert m.direct
    init = lines(fake)
    assert "AT+CSMS=1" in init
    assert init.index("AT+CSMS=1") < init.index(f"AT+CNMI={m.cnmi}")
    assert str(m.cnmi).split(",")[1] == "2"  # mt=2: +CMT
    assert fake.status()["cnmi"][1] == 2


def test_a_message_is_handed_over_and_acknowledged_not_stored(
        fake: FakeModemServer, modem: tuple[Modem, list[tuple[str, int]]]) -> None:
    m, notified = modem
    assert m.list_stored() == []  # the walk of every storage after an init
    before = len(fake.history())
    pdus = fake.deliver("+38344100001", "B")
    wait_for(lambda: notified, 5, what="the +CMT")
    assert fake.stored() == []  # handed over, not stored
    listed = m.list_stored()
    assert [(s.storage, s.pdu, s.received) for s in listed] == [(DIRECT, pdus[0], True)]
    # neither a listing nor a storage switch: nothing is stored and nothing was named
    assert lines(fake, before) == []
    m.delete(listed[0].storage, listed[0].index)
    assert lines(fake, before) == ["AT+CNMA"]
    assert [final for line, final in fake.history()[before:]] == ["OK"]


def test_the_next_message_waits_for_the_acknowledgement(
        fake: FakeModemServer, modem: tuple[Modem, list[tuple[str, int]]]) -> None:
    m, notified = modem
    assert m.list_stored() == []
    for i in range(3):
        fake.deliver(f"+3834410000{i}", "B")
    wait_for(lambda: notified, 5, what="the first +CMT")
    assert fake.wait_idle()
    first = m.list_stored()
    assert len(first) == 1  # 27.005: no other +CMT before this one is acknowledged
    for n in range(2):
        m.delete(DIRECT, first[0].index)
        wait_for(lambda n=n: len(notified) == n + 2, 5, what="the next +CMT")
        first = m.list_stored()
        assert len(first) == 1
    m.delete(DIRECT, first[0].index)
    assert fake.stored() == []


def test_no_acknowledgement_in_time_is_delivered_again_and_set_up_again(
        fake: FakeModemServer, modem: tuple[Modem, list[tuple[str, int]]]) -> None:
    m, notified = modem
    assert m.list_stored() == []
    pdus = fake.deliver("+38344100001", "B")
    wait_for(lambda: notified, 5, what="the +CMT")
    assert [s.pdu for s in m.list_stored()] == pdus  # taken, never acknowledged
    # the modem gives up (mt and ds to 0), the network delivers it again: stored now
    wait_for(lambda: [s.pdu for s in fake.stored()] == pdus, 5, what="the redelivery")
    assert fake.status()["cnmi"][1] == 0
    m.acknowledge()  # too late: refused, and +CNMI is set again
    assert fake.history()[-2][1].startswith("+CMS ERROR")
    assert fake.status()["cnmi"][1] == 2
    # the stored copy is found by the next full walk (a reopen here) and listed
    m.reopen()
    again = m.list_stored()
    assert [(s.storage, s.pdu) for s in again] == [("SM", pdus[0])]


def test_a_modem_without_acknowledged_delivery_receives_stored(tmp_path: Path) -> None:
    with FakeModemServer(tmp_path / "tty", tmp_path / "state") as fake:
        fake.fault("error", match="+CSMS", count=5)
        with Modem(str(fake.link), command_timeout=3.0, receive="direct") as m:
            assert not m.direct
            assert str(m.cnmi).split(",")[1] == "1"  # +CMTI
            fake.deliver("+38344100001", "B")
            listed = wait_for(m.list_stored, 5, what="the stored message")
            assert [s.storage for s in listed] == ["SM"]


def test_the_fake_modem_answers_cnma_as_27005_says(fake: FakeModemServer) -> None:
    with AtPort(fake.link) as port:
        assert b"OK" in port.command("AT+CMEE=1;+CNMA")  # phase 2: a plain OK
        assert b"+CSMS: 1,1,1" in port.command("AT+CSMS=1")
        assert b"+CSMS: 1," in port.command("AT+CSMS?")
        port.command("AT+CNMI=2,2,0,0,0")
        fake.deliver("+38344100001", "B")
        seen = port.read_until(lambda b: b"+CMT: ," in b and b.endswith(b"\r\n"))
        assert b"+CMT: ," in seen
        assert b"OK" in port.command("AT+CNMA")
        assert b"+CMS ERROR: 340" in port.command("AT+CNMA")


def test_handed_over_messages_are_taken_while_a_send_holds_the_port(
        fake: FakeModemServer, modem: tuple[Modem, list[tuple[str, int]]]) -> None:
    """Issue 17: with no storage due a listing, the inbox takes what +CMT handed over
    without waiting for the send on the radio (it commits meanwhile; the +CNMA goes out
    when the send lets the port go)."""
    import threading
    import time

    m, notified = modem
    assert m.list_stored() == []  # the walk of every storage after an init
    fake.deliver("+38344100001", "B")
    wait_for(lambda: notified, 5, what="the +CMT")
    fake.fault("late", match="+CMGS", delay=1.5, count=1)
    sending = threading.Thread(target=m.send, args=("+38344100009", "Bilanci"))
    sending.start()
    try:
        wait_for(lambda: any(line.startswith("<") for line in lines(fake)), 5,
                 what="the send on the radio")
        started = time.monotonic()
        handed = m.take_handed()
        assert time.monotonic() - started < 0.5
        assert handed is not None
        assert [s.storage for s in handed] == [DIRECT]
        assert sending.is_alive()  # the send still holds the port
        m.delete(DIRECT, handed[0].index)  # owed: sent when the send lets the port go
        assert "AT+CNMA" not in lines(fake)
    finally:
        sending.join(10)
    wait_for(lambda: "AT+CNMA" in lines(fake), 5, what="the acknowledgement")


@pytest.fixture
def routed(fake: FakeModemServer) -> Iterator[tuple[Modem, list[StatusReport]]]:
    reports: list[StatusReport] = []
    m = Modem(str(fake.link), command_timeout=3.0, receive="direct",
              on_status_report=reports.append)
    m.open()
    yield m, reports
    m.close()


def test_direct_delivery_routes_reports_acknowledged_only_when_told(
        fake: FakeModemServer, routed: tuple[Modem, list[StatusReport]]) -> None:
    """Direct delivery asks for routed reports (ds=1): each `+CDS` comes with its `ack`,
    and no `+CNMA` goes out until the report's taker calls it (after its commit); the
    network holds the next `+CMT` back until then."""
    m, reports = routed
    assert m.cnmi == "2,2,0,1,0"
    assert fake.status()["cnmi"][3] == 1
    assert m.list_stored() == []
    sent = m.send("+38344100009", "Bilanci")
    wait_for(lambda: reports, 5, what="the +CDS")
    (report,) = reports
    assert report.ref == sent.refs[0]
    assert report.delivered
    assert report.ack is not None
    pdus = fake.deliver("+38344100001", "B")
    assert fake.wait_idle()
    assert fake.stored() == []
    assert "AT+CNMA" not in lines(fake)
    assert m.take_handed() in (None, [])  # held back by the network: one ack at a time
    report.ack()
    wait_for(lambda: "AT+CNMA" in lines(fake), 5, what="the report's acknowledgement")
    wait_for(m.take_handed, 5, what="the +CMT let through")
    assert fake.interpreter.acks == {"cmt": 0, "cds": 1}
    assert pdus
    assert fake.stored() == []


def test_a_report_never_acknowledged_comes_again_stored(
        fake: FakeModemServer, routed: tuple[Modem, list[StatusReport]]) -> None:
    """The daemon never acknowledged a `+CDS` (killed, its store failing): the modem gives
    up (+CNMI mt and ds 0), the network delivers the report again, and the modem stores
    it, for the next listing to hand over: a report is never lost to a crash."""
    m, reports = routed
    assert m.list_stored() == []
    m.send("+38344100009", "Bilanci")
    wait_for(lambda: reports, 5, what="the +CDS")
    wait_for(lambda: len(fake.stored()) == 1, 5, what="the report delivered again")
    assert fake.status()["cnmi"][1:4:2] == [0, 0]
    m.reopen()  # a new start: sets direct delivery again, lists what came meanwhile
    assert m.list_stored() == []  # reports are handed over, not listed
    assert len(reports) == 2
    assert reports[1].ref == reports[0].ref
    assert reports[1].ack is None  # a stored one owes no +CNMA (its slot is deleted)
    m.collect_reports()  # as the outbox does when idle: the slot freed
    wait_for(lambda: fake.stored() == [], 5, what="the stored report deleted")


def test_a_modem_that_only_stores_reports_gets_them_stored(tmp_path: Path) -> None:
    with FakeModemServer(tmp_path / "tty", tmp_path / "state",
                         config=ModemConfig(routed_reports=False)) as fake, \
            Modem(str(fake.link), command_timeout=3.0, receive="direct") as m:
        assert m.direct
        assert m.cnmi == "2,2,0,2,0"
        assert fake.status()["cnmi"][1:4:2] == [2, 2]


def test_an_acknowledgement_a_killed_run_owed_does_not_leave_routing_off(
        fake: FakeModemServer) -> None:
    """A run killed with a `+CMT` unacknowledged; the next opens before the modem gives
    up on it, and the modem then turns +CNMI mt and ds to 0 under it, storing what comes
    with no notice. `direct_recheck` after the init the box looks once (`AT+CNMI?`),
    sets direct delivery again and walks the storages: nothing waits for the next
    periodic walk."""
    with AtPort(fake.link) as port:  # the killed run
        port.command("AT+CSMS=1")
        port.command("AT+CNMI=2,2,0,1,0")
        fake.deliver("+38344100001", "B")
        port.read_until(lambda b: b"+CMT: ," in b and b.endswith(b"\r\n"))
    m = Modem(str(fake.link), command_timeout=3.0, receive="direct")
    m.direct_recheck = 1.5  # the fake modem gives up after 0.6 s, delivers again 0.3 s on
    with m:
        assert m.list_stored() == []  # the walk after the init: nothing yet
        wait_for(lambda: len(fake.stored()) == 1, 5, what="the message delivered again")
        assert fake.status()["cnmi"][1] == 0  # routing off under this run
        assert m.list_stored() == []  # not yet looked: nothing due
        listed = wait_for(m.list_stored, 5, what="the look after direct_recheck")
        assert [s.storage for s in listed] == ["SM"]
        assert "AT+CNMI?" in lines(fake)
        assert fake.status()["cnmi"][1:4:2] == [2, 1]
