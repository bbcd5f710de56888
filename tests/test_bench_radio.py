"""bench/radio.py (issue 17) at CI size, and the fake modem's timeline it reads: the
numbers of its table agree with each other and with what the modem recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.fakemodem.atclient import AtPort
from appliance.fakemodem.model import Busy
from appliance.fakemodem.server import FakeModemServer
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import radio  # noqa: E402


def test_ci_sized_burst_gives_a_consistent_table() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "radio.py"), "--messages", "10",
         "--time-scale", "0.02", "--json"],
        check=False, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    r = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("{")))
    assert r["messages"] == 10
    assert r["replies"] == 10
    # every reply is one AT+CMGS and one message after its prompt
    assert r["commands"]["+CMGS"] == r["commands"]["<message>"] == r["replies"]
    assert r["send_commands"] == sum(r["commands"].get(c, 0) for c in ("+CMGS", "+CMMS"))
    assert r["inbound_commands"] == sum(
        n for c, n in r["commands"].items() if c not in ("+CMGS", "<message>", "+CMMS",
                                                         "+CMGD", "+CMGR"))
    # each inbound deleted after its commit, a listing's together (one AT+CMGD=0,1, which
    # frees the status reports listed with them too); the stored reports (those that came
    # back before the last reply) read alone at most once each, deleted one by one or
    # several at once
    reads = r["commands"].get("+CMGR", 0)
    deletes = r["commands"]["+CMGD"]
    assert 0 <= reads <= 10
    assert 1 <= deletes <= 10 + 10
    assert r["report_commands"] == reads + max(0, deletes - 10)
    # time: the modem cannot be busier than the elapsed time, nor send faster than its radio
    assert 0 < r["transmit_s"] <= r["cmgs_s"] <= r["busy_s"] <= r["elapsed_s"] * 1.001
    assert r["cmgs_pct"] == pytest.approx(100 * r["cmgs_s"] / r["elapsed_s"])
    assert r["rate"] == pytest.approx(r["replies"] / r["elapsed_s"])
    assert r["limit"] == pytest.approx(r["replies"] / r["transmit_s"])
    assert r["rate"] <= r["limit"]
    # realistic +CMGS: 1-4 model seconds each (0.8 s less on a kept link), whatever the
    # time scale
    assert 10 * 0.2 <= r["transmit_s"] <= 10 * 4.0
    assert r["commands"].get("+CMMS", 0) == 1  # once for the run, not per send
    # the table shows the same numbers
    assert f"{r['cmgs_pct']:.1f} %" in run.stdout
    assert f"{r['limit']:.3f} msg/s" in run.stdout
    assert f"{r['inbound_commands'] / 10:.2f}" in run.stdout
    # where the time went: every command's modem time and the idle before it
    assert sum(r["busy_by"].values()) == pytest.approx(r["busy_s"])
    assert sum(r["idle_before"].values()) <= r["elapsed_s"] - r["busy_s"] + 1e-3
    # ... and between which two commands it idled (the same idle, split by pair)
    assert sum(r["idle_between"].values()) == pytest.approx(sum(r["idle_before"].values()))
    assert all(pair.split(" -> ")[1] in r["commands"] for pair in r["idle_between"])
    top = next(iter(r["idle_between"]))
    assert f"idle {top}" in run.stdout


def test_ci_sized_burst_by_direct_delivery_acknowledges_instead_of_deleting() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "radio.py"), "--messages", "10",
         "--time-scale", "0.02", "--receive", "direct", "--no-cmms", "--json"],
        check=False, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    r = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("{")))
    assert (r["receive"], r["cmms"], r["replies"]) == ("direct", False, 10)
    # status reports routed (+CDS, ds=1) and acknowledged: nothing listed, read or deleted
    assert r["reports"] == "1"
    assert not {"+CMGL", "+CMGR", "+CMGD"} & set(r["commands"])
    assert r["report_commands"] == 0
    assert r["commands"].get("+CMMS", 0) <= 1  # refused (ERROR) once, never asked again
    # one +CNMA per message, the reports' own +CNMA counted per reply
    assert r["report_acks"] >= 1  # those that came back before the last reply
    assert r["commands"]["+CNMA"] - r["report_acks"] == 10
    assert r["inbound_commands"] >= 10
    assert r["send_commands"] == (r["commands"]["+CMGS"] + r["commands"].get("+CMMS", 0)
                                  + r["report_acks"])


def test_measure_counts_only_the_burst_up_to_the_last_reply() -> None:
    t0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
    scale = 0.5

    def at(model_s: float) -> datetime:
        return t0 + timedelta(seconds=model_s * scale)

    timeline = [Busy(at(-5), "+CPMS", 1.0),  # before the burst: not counted
                Busy(at(0), "+CMGL", 1.0), Busy(at(1), "+CMGR", 1.0),
                Busy(at(2), "+CMGS", 0.5), Busy(at(2.5), "<message>", 3.0),
                Busy(at(5.5), "+CMGD", 0.5), Busy(at(7), "+CMGS", 0.0),
                Busy(at(7), "<message>", 2.0), Busy(at(20), "+CSQ", 1.0)]  # after: not
    r = radio.measure(timeline, t0, 2, scale, 1.0)
    assert r.replies == 2
    assert r.elapsed_s == pytest.approx(9.0)
    assert r.transmit_s == pytest.approx(5.0)
    assert r.cmgs_s == pytest.approx(5.5)
    assert r.busy_s == pytest.approx(8.0)
    assert r.inbound_commands == 1  # +CMGL; a +CMGR reads a stored status report
    # the +CMGR; the one +CMGD is an inbound's (two inbound, each deleted at most once)
    assert r.report_commands == 1
    assert r.send_commands == 2
    assert r.commands == {"+CMGS": 2, "<message>": 2, "+CMGL": 1, "+CMGR": 1, "+CMGD": 1}
    # idle: 0.5 s after the +CMGD (5.5-6.0 model s), 1 s before the second +CMGS
    assert r.idle_between == pytest.approx({"+CMGD -> +CMGS": 1.0})


def test_fake_modem_timeline_is_in_model_seconds(tmp_path: Path) -> None:
    with FakeModemServer(tmp_path / "m", tmp_path / "s", "realistic", seed=3,
                         time_scale=0.01) as modem:
        with AtPort(modem.link) as port:
            port.command("AT+CMGF=1")
            port.command('AT+CPMS="SM"')
            port.write(b'AT+CMGS="+38344100000"\r')
            port.read_until(lambda b: b"> " in b)
            port.command("hello\x1a", end=b"")
        wait_for(lambda: any(b.command == "<message>" for b in modem.timeline()), 5)
        names = [b.command for b in modem.timeline()]
        assert names[-4:] == ["+CMGF", "+CPMS", "+CMGS", "<message>"]
        send = modem.timeline()[-1]
        assert 1.0 <= send.seconds <= 4.0  # the realistic 1-4 s, not the scaled 10-40 ms


def test_realistic_send_times_do_not_depend_on_the_other_commands() -> None:
    from appliance.fakemodem.model import DelayModel

    quiet, busy = DelayModel("realistic", 17), DelayModel("realistic", 17)
    a = [quiet.submit() for _ in range(5)]
    b = []
    for i in range(5):
        for _ in range(i):
            busy.command("+CPMS", 3)
        b.append(busy.submit())
    assert a == b
