"""The pty front, the control socket and the command line of the fake modem."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.fakemodem import pdu as codec
from appliance.fakemodem.atclient import AtPort, AtTimeout
from appliance.fakemodem.cli import fake_modem
from appliance.fakemodem.control import ControlClient, ControlError, FakeModemNotRunning
from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer
from tests.helpers import wait_for

OK = b"\r\nOK\r\n"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FakeModemServer]:
    with FakeModemServer(tmp_path / "modem", tmp_path / "state") as m:
        yield m


@pytest.fixture
def port(served: FakeModemServer) -> Iterator[AtPort]:
    with AtPort(served.link) as p:
        assert p.command("ATE0").endswith(OK)
        yield p


def cmti_count(data: bytes) -> int:
    return data.count(b"+CMTI:")


def test_link_points_at_a_raw_pty_that_echoes(served: FakeModemServer) -> None:
    assert served.link.is_symlink()
    assert os.readlink(served.link) == served.pty_path
    with AtPort(served.link) as p:
        assert p.command("AT") == b"AT\r" + OK
        assert p.command("AT+CGMI") == b"AT+CGMI\r\r\nFAKEMODEM\r\n" + OK


def test_control_client_round_trip(served: FakeModemServer, port: AtPort) -> None:
    client = ControlClient(served.state_dir)
    assert client.ping()["pty"] == served.pty_path
    pdus = client.deliver("+38344123456", "Bilanc")
    assert len(pdus) == 1
    assert port.read_until(lambda b: b.endswith(b'+CMTI: "SM",1\r\n'))
    client.deliver_pdu(pdus[0], storage="ME")
    assert [(r["storage"], r["index"], r["text"]) for r in client.stored()] == [
        ("SM", 1, "Bilanc"), ("ME", 0, "Bilanc")]
    pdu = codec.encode_submit("+38349234567", "Faleminderit")
    assert port.command(f"AT+CMGS={codec.tpdu_length(pdu)}").endswith(b"> ")
    assert port.command(pdu, end=b"\x1a") == b"\r\n+CMGS: 0\r\n" + OK
    [sent] = client.sent()
    assert (sent.to, sent.text, sent.parts) == ("+38349234567", "Faleminderit", 1)
    client.fault("cms-error", code=331, match="+CMGS")
    port.command("AT+CMEE=1")
    port.command(f"AT+CMGS={codec.tpdu_length(pdu)}")
    assert port.command(pdu, end=b"\x1a") == b"\r\n+CMS ERROR: 331\r\n"
    with pytest.raises(ControlError, match="unknown fault"):
        client.fault("meteor")
    with pytest.raises(ControlError, match="unknown fault parameter"):
        client.fault("error", colour="red")
    state = client.status()
    assert state["faults"] == []  # the one-shot cms-error was used up
    assert (state["cmee"], state["cpms"], state["used"]) == (1, ["SM", "SM", "SM"],
                                                            {"SM": 1, "ME": 1})
    client.fault("error", match="+CSQ", count=3)
    assert client.status()["faults"] == [{"kind": "error", "count": 3, "match": "+CSQ",
                                          "code": None, "delay": 0.0}]
    client.reset_faults()
    assert client.status()["faults"] == []
    r = CliRunner().invoke(fake_modem, ["status", "--state-dir", str(served.state_dir)])
    assert json.loads(r.output)["pty"] == served.pty_path


def test_no_modem_at_the_state_dir(tmp_path: Path) -> None:
    with pytest.raises(FakeModemNotRunning):
        ControlClient(tmp_path).ping()
    result = CliRunner().invoke(fake_modem, ["sent", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "No fake modem is running" in result.output


def test_a_long_state_dir_path_still_gets_a_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with FakeModemServer(tmp_path / "modem", deep):
        assert ControlClient(deep).ping()["name"] == "modem"


def test_output_is_dropped_while_nobody_has_the_port_open(served: FakeModemServer) -> None:
    served.deliver("+38344123456", "nobody listening")
    assert served.wait_idle()
    with AtPort(served.link) as p:
        assert p.command("AT") == b"AT\r" + OK  # no stale +CMTI in front of the answer


def test_parts_of_a_long_delivery_are_notified_apart(served: FakeModemServer,
                                                     port: AtPort) -> None:
    served.deliver("+38344123456", "x" * 400)
    first = port.read_until(lambda b: cmti_count(b) >= 1)
    assert cmti_count(first) == 1
    rest = port.read_until(lambda b: cmti_count(b) >= 2)
    assert b'+CMTI: "SM",3' in rest


def test_status_report_reaches_the_pty(served: FakeModemServer, port: AtPort) -> None:
    port.command("AT+CNMI=2,1,0,1,0")
    pdu = codec.encode_submit("+38344123456", "report", srr=True)
    port.command(f"AT+CMGS={codec.tpdu_length(pdu)}")
    port.command(pdu, end=b"\x1a")
    cds = port.read_until(lambda b: b.endswith(b"\r\n") and b"+CDS:" in b and
                          b.count(b"\r\n") >= 3)
    report = cds.split(b"\r\n")[2].decode()
    assert codec.decode_status_report(report).mr == 0


def test_vanish_and_a_new_pty_at_the_same_link(served: FakeModemServer) -> None:
    old_pty = served.pty_path
    old = AtPort(served.link)
    try:
        old.command("ATE0")
        served.deliver("+38344123456", "kept on the SIM")
        served.fault("vanish", reappear_after=0.3)
        assert not served.link.exists() or os.readlink(served.link) != old_pty
        assert old.read_for(0.3).count(b"OK") == 0  # the old port says nothing any more
    finally:
        old.close()
    wait_for(served.link.is_symlink, what="the port to come back")
    assert served.pty_path != old_pty
    assert os.readlink(served.link) == served.pty_path
    with AtPort(served.link) as p:
        assert p.command("AT") == b"AT\r" + OK  # rebooted: echo is on again
        assert b"+CMGL: 1,0" in p.command("AT+CMGL=4")  # the SIM kept its message


def test_vanish_for_good(served: FakeModemServer) -> None:
    served.fault("vanish")
    assert not served.link.exists()
    assert served.gone_for_good
    assert ControlClient(served.state_dir).ping()["pty"] is None


def test_garbage_non_utf8_and_a_late_answer(served: FakeModemServer, port: AtPort) -> None:
    client = ControlClient(served.state_dir)
    client.fault("garbage", count=24)
    noise = port.read_until(lambda b: len(b) >= 24)
    assert len(noise) == 24
    client.fault("non-utf8", match="+CSQ")
    answer = port.command("AT+CSQ")
    with pytest.raises(UnicodeDecodeError):
        answer.decode("utf-8")
    client.fault("late", delay=1.0, match="+CSQ")
    port.write(b"AT+CSQ\r")
    assert port.read_for(0.4) == b""  # a client with a short timeout gives up here
    assert port.read_until(lambda b: b.endswith(OK), timeout=5) == b"\r\n+CSQ: 20,99\r\n" + OK


def test_no_answer_then_answers_again(served: FakeModemServer, port: AtPort) -> None:
    served.fault("no-answer", count=1)
    with pytest.raises(AtTimeout):
        port.command("AT", timeout=0.5)
    assert port.command("AT") == OK


def test_realistic_delay_on_submit(tmp_path: Path) -> None:
    with (FakeModemServer(tmp_path / "modem", tmp_path / "state", "realistic", seed=22) as m,
          AtPort(m.link) as p):
        p.command("ATE0")
        pdu = codec.encode_submit("+38344123456", "slow")
        p.command(f"AT+CMGS={codec.tpdu_length(pdu)}")
        p.write(pdu.encode() + b"\x1a")
        assert p.read_for(0.8) == b""
        assert p.read_until(lambda b: b.endswith(OK), timeout=5).startswith(b"\r\n+CMGS: 0")


def test_bad_input_over_the_pty_always_gets_an_answer(port: AtPort) -> None:
    assert port.command("AT+NOSUCH") == b"\r\nERROR\r\n"
    assert port.command(b"AT" + b"X" * 3000) == b"\r\nERROR\r\n"
    assert port.command(bytes(range(1, 256)).replace(b"\r", b"").replace(b"\n", b"")
                        .replace(b"\x1b", b"")).endswith(b"ERROR\r\n")
    port.command("AT+CMEE=1")
    assert port.command("AT+CMGS=20").endswith(b"> ")
    assert port.command("00GARBAGE", end=b"\x1a") == b"\r\n+CMS ERROR: 304\r\n"
    assert port.command("AT") == OK


def test_cli_deliver_sent_storage_fault(served: FakeModemServer, port: AtPort) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(served.state_dir)]
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38344123456", "Bilanc ë"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(fake_modem, ["storage", *state, "--json"])
    assert json.loads(r.output.splitlines()[0])["text"] == "Bilanc ë"
    r = runner.invoke(fake_modem, ["deliver", *state, "--pdu", "0011", "--from", "x"])
    assert r.exit_code == 2
    for seq, chunk in ((1, "Pjesa e parë "), (2, "dhe e dyta")):
        pdu = codec.encode_submit("+38344123456", chunk, alphabet="ucs2",
                                  concat=codec.Concat(5, 2, seq))
        port.command(f"AT+CMGS={codec.tpdu_length(pdu)}")
        port.command(pdu, end=b"\x1a")
    r = runner.invoke(fake_modem, ["sent", *state, "--json"])
    [line] = r.output.splitlines()
    obj = json.loads(line)
    assert set(obj) == {"to", "text", "parts", "at"}
    assert (obj["to"], obj["text"], obj["parts"]) == ("+38344123456",
                                                      "Pjesa e parë dhe e dyta", 2)
    assert obj["at"].endswith("+00:00")
    r = runner.invoke(fake_modem, ["fault", *state, "cms-error", "code=322", "match=+CMGS"])
    assert r.exit_code == 0, r.output
    assert served.interpreter.faults[0].code == 322
    r = runner.invoke(fake_modem, ["fault", *state, "error", "oops"])
    assert r.exit_code == 2
    r = runner.invoke(fake_modem, ["history", *state, "--refused"])
    assert r.exit_code == 0
    assert r.output == ""  # everything above was answered OK
    port.command('AT+CPIN="9999"')
    port.command("AT+NOSUCH")
    r = runner.invoke(fake_modem, ["history", *state, "--refused"])
    assert r.output.splitlines() == ['AT+CPIN="****"  ->  ERROR', "AT+NOSUCH  ->  ERROR"]
    r = runner.invoke(fake_modem, ["reset-faults", *state])
    assert r.exit_code == 0
    assert served.interpreter.faults == []


def test_serve_as_a_process(tmp_path: Path) -> None:
    link, state = tmp_path / "modem", tmp_path / "state"
    cli = [sys.executable, "-c", "from appliance.cli import main; main()", "fake-modem"]
    proc = subprocess.Popen([*cli, "serve", "--link", str(link), "--state-dir", str(state),
                             "--pin", "1234"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: link.is_symlink() and (state / "fakemodem.sock").exists(),
                 what="fake modem to start")
        done = subprocess.run([*cli, "deliver", "--state-dir", str(state), "--from",
                               "+38344123456", "B"], capture_output=True, timeout=30,
                              check=False)
        assert done.returncode == 0, done.stderr
        with AtPort(link) as p:
            p.command("ATE0")
            assert b"SIM PIN" in p.command("AT+CPIN?")
            # the SMSC held the message until the SIM was unlocked
            assert p.command('AT+CPIN="1234"') == OK + b'\r\n+CMTI: "SM",1\r\n'
            p.command("AT+CMGF=1")
            assert b'"REC UNREAD","+38344123456"' in p.command('AT+CMGL="ALL"')
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"Fake modem running on /dev/pts/" in out
    assert not link.exists()


def test_sim_full_config_stops_cmti(tmp_path: Path) -> None:
    config = ModemConfig(sm_capacity=1)
    with FakeModemServer(tmp_path / "modem", tmp_path / "state", config=config) as m, \
            AtPort(m.link) as p:
        p.command("ATE0")
        m.deliver("+38344123456", "fits")
        assert cmti_count(p.read_until(lambda b: b"+CMTI" in b and b.endswith(b"\r\n"))) == 1
        m.deliver("+38344123456", "waits at the SMSC")
        assert p.read_for(0.3) == b""
        assert p.command("AT+CMGD=1") == OK + b'\r\n+CMTI: "SM",1\r\n'


def test_a_second_modem_on_the_same_state_dir_is_refused(served: FakeModemServer,
                                                         tmp_path: Path) -> None:
    with pytest.raises(OSError, match="already runs"):
        FakeModemServer(tmp_path / "other", served.state_dir).start()
    assert not (tmp_path / "other").exists()
    assert ControlClient(served.state_dir).ping()["pty"] == served.pty_path


def test_stored_json_names_the_message_type(served: FakeModemServer) -> None:
    served.deliver("+38344123456", "B")
    served.deliver_pdu(codec.encode_status_report(
        3, "+38344123456", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC),
        smsc=None))
    rows = ControlClient(served.state_dir).stored()
    assert [r["type"] for r in rows] == ["deliver", "status-report"]


def test_a_flood_of_random_bytes_leaves_a_working_modem(served: FakeModemServer,
                                                        port: AtPort) -> None:
    rng = random.Random(5)
    for _ in range(50):
        port.write(bytes(rng.randrange(256) for _ in range(2000)))
        port.read_for(0.01)  # keep the line drained, as a client would
    port.write(b"\x1b\r\x1b")
    port.read_for(0.2)
    assert port.command("AT").endswith(OK)
    assert served.deliver("+38344123456", "still here")
    assert served.alive


# ---------------------------------------------------------------- --time-scale, --smsc

def _cmgl_pdus(p: AtPort) -> list[str]:
    p.command("AT+CMGF=0")
    lines = p.command("AT+CMGL=4").decode("latin-1").split("\r\n")
    return [lines[i + 1] for i, x in enumerate(lines) if x.startswith("+CMGL:")]


def test_serve_time_scale_runs_the_realistic_delays_faster(tmp_path: Path) -> None:
    link, state = tmp_path / "modem", tmp_path / "state"
    cli = [sys.executable, "-c", "from appliance.cli import main; main()", "fake-modem"]
    proc = subprocess.Popen([*cli, "serve", "--link", str(link), "--state-dir", str(state),
                             "--modem-delay", "realistic", "--seed", "22",
                             "--time-scale", "0.01"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: link.is_symlink() and (state / "fakemodem.sock").exists(),
                 what="fake modem to start")
        with AtPort(link) as p:
            p.command("ATE0")
            for _ in range(3):  # realistic: 1-4 s a part; scaled: 10-40 ms
                pdu = codec.encode_submit("+38344123456", "fast")
                p.command(f"AT+CMGS={codec.tpdu_length(pdu)}")
                started = datetime.now(UTC)
                p.write(pdu.encode() + b"\x1a")
                answer = p.read_until(lambda b: b.endswith(OK), timeout=5)
                took = (datetime.now(UTC) - started).total_seconds()
                assert answer.startswith(b"\r\n+CMGS: "), answer
                assert took < 0.5, took
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_time_scale_in_process_for_the_demo(tmp_path: Path) -> None:
    with (FakeModemServer(tmp_path / "modem", tmp_path / "state", "realistic", seed=22,
                          time_scale=0.01) as m, AtPort(m.link) as p):
        p.command("ATE0")
        pdu = codec.encode_submit("+38344123456", "fast")
        p.command(f"AT+CMGS={codec.tpdu_length(pdu)}")
        p.write(pdu.encode() + b"\x1a")
        assert p.read_until(lambda b: b.endswith(OK), timeout=0.5).startswith(b"\r\n+CMGS: 0")
    with pytest.raises(ValueError, match="time_scale"):
        FakeModemServer(tmp_path / "m2", tmp_path / "s2", time_scale=0)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", ""])
def test_bad_time_scale_exits_2_naming_the_option(tmp_path: Path, value: str) -> None:
    r = CliRunner().invoke(fake_modem, ["serve", "--link", str(tmp_path / "modem"),
                                        "--state-dir", str(tmp_path / "state"),
                                        "--time-scale", value])
    assert r.exit_code == 2, r.output
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("--time-scale:"), r.stderr
    assert not (tmp_path / "modem").exists()


def test_deliver_smsc_is_the_service_centre_the_pdu_carries(served: FakeModemServer,
                                                           port: AtPort) -> None:
    state = ["--state-dir", str(served.state_dir)]
    runner = CliRunner()
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38344123456",
                                   "--smsc", "+383 44 000 200", "B"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38344123456", "C"])
    assert r.exit_code == 0, r.output
    port.command('AT+CSCA="+38349000300",145')  # the modem's own +CSCA is the default
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38344123456", "D"])
    assert r.exit_code == 0, r.output
    wait_for(lambda: len(served.stored()) == 3, what="three messages stored")
    decoded = [codec.decode_deliver(p) for p in _cmgl_pdus(port)]
    assert [(d.smsc, d.text) for d in decoded] == [
        ("+38344000200", "B"), ("+38344000100", "C"), ("+38349000300", "D")]
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38344123456",
                                   "--smsc", "Vala", "E"])
    assert r.exit_code == 2
    assert r.stderr.startswith("--smsc:"), r.stderr
    r = runner.invoke(fake_modem, ["deliver", *state, "--pdu", "0011", "--smsc", "+3834"])
    assert r.exit_code == 2
    assert len(served.stored()) == 3


def test_cli_deliver_takes_the_words_as_a_person_types_them(served: FakeModemServer) -> None:
    """`deliver --from N BLLOKO 4821` (no quotes) is the text `BLLOKO 4821`; it was refused
    as 'unexpected extra argument'. One quoted argument keeps its own blanks."""
    runner = CliRunner()
    state = ["--state-dir", str(served.state_dir)]
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38344123456", "BLLOKO", "4821"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38349234567", "044  5"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(fake_modem, ["storage", *state, "--json"])
    texts = [json.loads(line)["text"] for line in r.output.splitlines()]
    assert texts == ["BLLOKO 4821", "044  5"]
    r = runner.invoke(fake_modem, ["deliver", *state, "--from", "+38344123456"])
    assert r.exit_code == 2  # no text at all is still bad usage
