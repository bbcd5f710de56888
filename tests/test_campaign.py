"""The crash-and-fault campaign (bench/campaign.py, DESIGN §9) at CI size, and its judge:
each counter it reports counts what it names, so a broken invariant cannot pass."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import campaign  # noqa: E402


@pytest.mark.parametrize(("receive", "seeds"), [("stored", ("11", "12", "13")),
                                               ("direct", ("11", "12"))])
def test_ci_sized_campaign_keeps_every_invariant(tmp_path: Path, receive: str,
                                                 seeds: tuple[str, ...]) -> None:
    """Realistic modem delays, time-scaled: a kill lands inside an AT+CMGS as it would
    in the field, so the duplicate rate is the one issue 16 bounds (≤ 0.1 per kill). In
    direct delivery too (issue 17): messages and status reports handed over by +CMT and
    +CDS, each acknowledged only once committed."""
    args = [sys.executable, str(ROOT / "bench" / "campaign.py"), "--kills", "6",
            "--messages", "30", "--modem-delay", "realistic", "--time-scale", "0.05",
            "--receive", receive, "--json", "--keep", str(tmp_path)]
    for s in seeds:
        args += ["--seed", s]
    run = subprocess.run(args, check=False, capture_output=True, text=True, timeout=240)
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [str(r["seed"]) for r in results] == list(seeds), run.stderr[-2000:]
    for r in results:
        assert r["kills"] == 6
        assert r["faults"] >= 2
        assert r["messages"] > 20
        for key in ("lost", "decided_twice", "double_debits", "alerts_missing",
                    "alerts_doubled", "replies_missing"):
            assert r[key] == 0, f"seed {r['seed']}: {key} = {r[key]}\n{run.stderr[-2000:]}"
        assert r["ok"] is True
    assert run.returncode == 0, run.stderr[-2000:]
    duplicates = sum(r["duplicate_sms"] for r in results)
    kills = sum(r["kills"] for r in results)
    causes = [r["duplicate_causes"] for r in results]
    assert duplicates <= 0.1 * kills, f"{duplicates} duplicate SMS in {kills} kills: {causes}"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ci_sized_fleet_campaign_keeps_every_invariant(tmp_path: Path, pg_server: Any) -> None:
    """Issue 16 for the fleet: two boxes on a real PostgreSQL, a box killed (its daemon;
    its modem keeps what customers send it) and back only after a seeded delay of up to
    2 leases, so the other box takes over its claims. Every kill waits (up to 5 s) for
    its box to be mid-send, so that a CI-sized run has claims to take over. Every invariant
    holds across the boxes; duplicates per kill within issue 16's bound."""
    import campaign_fleet

    results = []
    # Seeds whose kills keep a box down past its lease three times (of four).
    for seed in (31, 38):
        keep = tmp_path / str(seed)
        keep.mkdir()
        results.append(campaign_fleet.run_fleet(
            seed, 4, 40, "realistic", 0.05, span=20.0,
            drain_timeout=90.0, boxes=2, postgres=True, lease=4.0, aim=1.0, aim_wait=5.0,
            keep=keep,
            url=pg_server.fresh(f"camp{seed}")))
    for r in results:
        assert (r.kills, r.boxes) == (4, 2)
        assert r.messages > 15
        for key in ("lost", "decided_twice", "double_debits", "alerts_missing",
                    "alerts_doubled", "replies_missing"):
            assert getattr(r, key) == 0, f"seed {r.seed}: {key} = {getattr(r, key)}"
        assert r.ok
    duplicates = sum(r.duplicate_sms for r in results)
    kills = sum(r.kills for r in results)
    causes = [r.duplicate_causes for r in results]
    assert duplicates <= 0.1 * kills, f"{duplicates} duplicate SMS in {kills} kills: {causes}"
    # The kills mattered: some box took over rows another had claimed or tried.
    assert sum(r.handed_over for r in results) >= 1, results


def test_fleet_kills_pick_a_box_and_never_the_last_one_running(tmp_path: Path) -> None:
    """A kill that picks a box already down lands on the next one running; the last box
    running is killed only once another is back, so a survivor can take over."""
    import campaign_fleet

    class _Daemon:
        def __init__(self) -> None:
            self.log: list[str] = []

        def start(self) -> None:
            self.log.append("start")

        def kill(self) -> None:
            self.log.append("kill")

    boxes = [campaign_fleet.Box(f"box{i}", None, _Daemon())  # type: ignore[arg-type]
             for i in (1, 2, 3)]
    logs = [b.daemon.log for b in boxes]  # type: ignore[attr-defined]
    r = campaign_fleet._Restarts(boxes)
    assert r.kill(0, 0.2) == "box1"
    assert r.kill(0, 60) == "box2"  # box1 is down: the next one running
    assert logs == [["kill"], ["kill"], []]
    t0 = time.monotonic()
    assert r.kill(2, 60) == "box3"  # the last one running: killed once box1 is back
    assert time.monotonic() - t0 >= 0.1
    assert logs == [["kill", "start"], ["kill"], ["kill"]]
    r.due = {1: 0.0, 2: 0.0}
    r.until(0.0)  # due: restarted
    assert logs[1:] == [["kill", "start"], ["kill", "start"]]
    assert r.due == {}


def test_fleet_classify_puts_a_text_sent_by_two_boxes_down_to_a_takeover(
        tmp_path: Path) -> None:
    import campaign_fleet

    d = campaign.Daemon(tmp_path, "http://127.0.0.1:1", tmp_path / "token", tmp_path / "modem")
    con = sqlite3.connect(d.db)
    con.executescript("""
        CREATE TABLE outbox_message (id INTEGER, "to" TEXT, text TEXT, state TEXT);
        INSERT INTO outbox_message VALUES (1, '+38344100001', 'a', 'sent'),
            (2, '+38344100002', 'b', 'sent');""")
    con.commit()
    con.close()
    one, two = _Modem([]), _Modem([])
    one._sent = [_Sent("+38344100001", "a"), _Sent("+38344100002", "b")]
    two._sent = [_Sent("+38344100001", "a"), _Sent("+38344100002", "b")]
    one._sent.append(_Sent("+38344100002", "b"))  # b three times, through both boxes
    fleet = campaign_fleet.Fleet([campaign_fleet.Box("box1", one, d),  # type: ignore[arg-type]
                                  campaign_fleet.Box("box2", two, d)])  # type: ignore[arg-type]
    assert fleet.classify(d, fleet) == {campaign_fleet.TWO_BOXES: 3}  # no line: a live box's
    d.log.write_text("W outbox 2 to +383 44 *** *02 was interrupted while sending (no status "
                     "report within the grace period): resending it\n", encoding="utf-8")
    assert fleet.classify(d, fleet) == {campaign_fleet.TWO_BOXES: 1, campaign_fleet.TAKEN_OVER: 2}
    one._sent = [_Sent("+38344100001", "a"), _Sent("+38344100001", "a")]
    two._sent = []
    assert fleet.classify(d, fleet) == {"no log line (?)": 1}


def test_schedule_is_a_function_of_the_seed() -> None:
    a = campaign.schedule(5, kills=10, messages=30, movements=8, span=20)
    b = campaign.schedule(5, kills=10, messages=30, movements=8, span=20)
    c = campaign.schedule(6, kills=10, messages=30, movements=8, span=20)
    assert a == b
    assert a != c
    kinds = Counter(e.kind for e in a)
    assert kinds["kill"] == 10
    assert kinds["movement"] == 8
    assert kinds["sms"] == 30
    assert kinds["modem_fault"] >= 1
    assert kinds["bank_fault"] >= 1
    senders = [e.who for e in a if e.kind == "sms"]
    assert len(senders) == len(set(senders))  # each phone once: what it must get is known


# --- the judge, over a store and witnesses that broke each invariant ----------------------

@dataclass
class _Sent:
    to: str
    text: str = ""


class _Modem:
    def __init__(self, to: list[str]) -> None:
        self._sent = [_Sent(t) for t in to]

    def sent(self) -> list[_Sent]:
        return self._sent


class _Ledger:
    def __init__(self, debits: dict[str, int]) -> None:
        self.debits = debits

    def debit_count(self, key: str | None = None) -> int:
        return sum(self.debits.values()) if key is None else self.debits.get(key, 0)


class _Bank:
    def __init__(self, debits: dict[str, int]) -> None:
        self.db = _Ledger(debits)


def _store(tmp: Path, inbound: list[tuple[str, str]], outbox: list[tuple[str, str, str]],
           orders: list[tuple[str, str]]) -> campaign.Daemon:
    d = campaign.Daemon(tmp, "http://127.0.0.1:1", tmp / "token", tmp / "modem")
    con = sqlite3.connect(d.db)
    con.executescript("""
        CREATE TABLE inbound_message (sender TEXT, state TEXT);
        CREATE TABLE outbox_message ("to" TEXT, kind TEXT, state TEXT);
        CREATE TABLE topup_order (idempotency_key TEXT, state TEXT);""")
    con.executemany("INSERT INTO inbound_message VALUES (?, ?)", inbound)
    con.executemany("INSERT INTO outbox_message VALUES (?, ?, ?)", outbox)
    con.executemany("INSERT INTO topup_order VALUES (?, ?)", orders)
    con.commit()
    con.close()
    return d


P1, P2, P3 = "+38344100001", "+38344100002", "+38344100003"


def _judge(tmp: Path, *, inbound: list[tuple[str, str]] | None = None,
           outbox: list[tuple[str, str, str]] | None = None,
           orders: list[tuple[str, str]] | None = None, debits: dict[str, int] | None = None,
           sent: list[str] | None = None) -> campaign.Outcome:
    good_inbound = [(P1, "handled"), (P2, "handled")]
    good_outbox = [(P1, "reply", "sent"), (P2, "reply", "sent"), (P3, "alert", "sent")]
    d = _store(tmp, good_inbound if inbound is None else inbound,
               good_outbox if outbox is None else outbox,
               [("k1", "done")] if orders is None else orders)
    modem = _Modem([P1, P2, P3] if sent is None else sent)
    bank = _Bank({"k1": 1} if debits is None else debits)
    return campaign._judge(1, 2, 0, 2, d, modem, bank, Counter({P1: 1, P2: 1}), [P3], 0.0)


def test_judge_passes_a_clean_run(tmp_path: Path) -> None:
    o = _judge(tmp_path)
    assert o.ok
    assert o.duplicate_sms == 0


@pytest.mark.parametrize(("broken", "counter"), [
    ({"inbound": [(P1, "handled")]}, "lost"),
    ({"inbound": [(P1, "handled"), (P2, "stored")]}, "lost"),
    ({"inbound": [(P1, "handled"), (P2, "handled"), (P2, "handled")]}, "decided_twice"),
    ({"debits": {"k1": 2}}, "double_debits"),
    ({"orders": [("k1", "rejected")]}, "double_debits"),
    ({"outbox": [(P1, "reply", "sent"), (P2, "reply", "sent")], "sent": [P1, P2]},
     "alerts_missing"),
    ({"outbox": [(P1, "reply", "sent"), (P2, "reply", "sent"), (P3, "alert", "sent"),
                 (P3, "alert", "sent")], "sent": [P1, P2, P3, P3]}, "alerts_doubled"),
    ({"sent": [P1, P3]}, "replies_missing"),
    ({"outbox": [(P1, "reply", "sent"), (P2, "reply", "failed"), (P3, "alert", "sent")],
      "sent": [P1, P3]}, "replies_missing"),
])
def test_judge_counts_each_broken_invariant(tmp_path: Path, broken: dict[str, object],
                                            counter: str) -> None:
    o = _judge(tmp_path, **broken)  # type: ignore[arg-type]
    assert getattr(o, counter) >= 1
    assert not o.ok


def test_judge_counts_a_duplicate_sms_without_failing_the_run(tmp_path: Path) -> None:
    o = _judge(tmp_path, sent=[P1, P1, P2, P3])
    assert o.duplicate_sms == 1
    assert o.duplicates_per_kill == 0.5
    assert o.ok  # I5 allows a resend by policy; the rate is the campaign's measure


def test_classify_names_the_cause_of_each_duplicate(tmp_path: Path) -> None:
    """Each duplicate SMS is put down to what the daemon logged about its row."""
    d = campaign.Daemon(tmp_path, "http://127.0.0.1:1", tmp_path / "token", tmp_path / "modem")
    con = sqlite3.connect(d.db)
    con.executescript("""
        CREATE TABLE outbox_message (id INTEGER, "to" TEXT, text TEXT, state TEXT);
        INSERT INTO outbox_message VALUES (1, '+38344100001', 'a', 'sent'),
            (2, '+38344100002', 'b', 'delivered'), (3, '+38344100003', 'c', 'sent'),
            (4, '+38344100004', 'd', 'sent');""")
    con.commit()
    con.close()
    d.log.write_text(
        "W outbox 1 to +383 44 *** *01 was interrupted while sending (no status report "
        "within the grace period): resending it\n"
        "W outbox 2 (reply) to +383 44 *** *02: attempt 1 via m1 failed (m1: port /x gone)\n"
        "W outbox 22 (reply) to +383 44 *** *03: attempt 1 via m1 failed (m1: port gone)\n",
        encoding="utf-8")
    sent = ["+38344100001"] * 2 + ["+38344100002"] * 3 + ["+38344100003"] * 2 \
        + ["+38344100004"]
    modem = _Modem([])
    modem._sent = [_Sent(to, text) for to, text in zip(sent, "aabbbccd", strict=True)]
    assert campaign.classify(d, modem) == {
        "killed after PDU, no report in grace": 1,
        "port vanished mid-send, retried": 2,
        "no log line (?)": 1,  # row 3: 'outbox 22' is another row
    }
