"""A seeded crash-and-fault campaign (DESIGN §9): the daemon dies, the modem and the bank
misbehave, and afterwards every invariant of DESIGN §2 is checked from outside.

The daemon runs as `appliance run` in a subprocess, so that it alone dies; the fake bank
and the fake modem run in this process and are the witnesses: the modem records every
SMS it was asked to submit, the bank every debit. A seed fixes the whole schedule
(messages, bank movements, SIGKILLs, modem and bank faults), so a failing run replays with
the command it prints.

Run: .venv/bin/python bench/campaign.py --seed 7 --kills 20 [--modem-delay realistic]
     [--time-scale 0.05] [--messages 60] [--json] [--boxes N [--postgres] [--lease S]]
With --boxes N (bench/campaign_fleet.py) N boxes, each its own daemon and fake modem,
share one database (a private PostgreSQL cluster with --postgres), and each kill takes a
box down for a seeded while, often past its lease; the judge (bench/campaign_judge.py)
is the same.
Exit 0 when every invariant held, 1 otherwise. Each duplicate SMS is put down to a cause
from what the daemon logged about its row (`classify`: lines under the table, and
`duplicate_causes` in the JSON).

The 100-kill run of issue 16 (realistic delays, time-scaled 20x; docs/operations.md, "A
crash mid-send", has the policy, its trade-off and the figures before):

    .venv/bin/python bench/campaign.py --seed 101 --seed 102 --seed 103 --seed 104 \\
        --seed 105 --kills 20 --messages 60 --modem-delay realistic --time-scale 0.05

    seed kills faults msgs parts lost twice debits al.miss al.dbl repl.miss dup dup/kill drain
     101    20     15   60    68    0     0      0       0      0         0   0      0.0   6.1
     102    20     15   60    67    0     0      0       0      0         0   0      0.0   6.3
     103    20     15   60    65    0     0      0       0      0         0   0      0.0  10.1
     104    20     15   60    65    0     0      0       0      0         0   0      0.0   6.8
     105    20     15   60    66    0     0      0       0      0         0   0      0.0   2.0
    (twice: decided twice; debits: double debits; al.: alerts missing/doubled; drain in s)
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaign_judge import (  # noqa: E402
    CAUSES,
    Outcome,
    Store,
    _drained,
    _judge,
    astuple_outcome,
    classify,
    table,
)

from appliance.fakebank.server import FakeBankServer  # noqa: E402
from appliance.fakemodem.server import FakeModemServer  # noqa: E402

__all__ = ["CAUSES", "Outcome", "Store", "_drained", "_judge", "astuple_outcome",
           "classify", "table"]

STRANGER_BASE = 990000
ALERT_LIMIT = Decimal(500)
MODEM_FAULTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("no-answer", {"count": 1}),
    ("error", {"count": 1}),
    ("cms-error", {"count": 1, "code": 500, "match": "+CMGS"}),
    ("cms-error", {"count": 1, "code": 331, "match": "+CMGS"}),
    ("garbage", {"count": 8}),
    ("vanish", {"reappear_after": 1.0}),
    ("sim-full", {}),
)
BANK_FAULTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("down", {"count": 3}),
    ("error500", {"count": 2}),
    ("slow", {"count": 2, "delay": 1.0}),
    ("timeout_after_debit", {"count": 1, "delay": 1.0}),
)


def phone(i: int) -> str:
    """A customer's phone; from STRANGER_BASE on, valid IPKO numbers with no agreement."""
    if i >= STRANGER_BASE:
        return f"+38349{i - STRANGER_BASE:06d}"
    return f"+38344{100000 + i:06d}"


@dataclass
class Event:
    at: float  # seconds after the start of the schedule
    kind: str  # sms | movement | kill | modem_fault | bank_fault
    who: int = 0
    text: str = ""
    fault: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def schedule(seed: int, kills: int, messages: int, movements: int, span: float) -> list[Event]:
    """The seeded plan: every sender and every alerted account is used once, so that what
    each phone must receive is known exactly."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(messages):
        roll = rng.random()
        if roll < 0.35:
            text = rng.choice(("B", "Bilanc", "b"))
        elif roll < 0.45:
            text = "BK"
        elif roll < 0.65:
            text = rng.choice(("044111222 1", "049555666 2", "045333444 3"))
        elif roll < 0.75:
            text = f"Internet user{i} 10"
        elif roll < 0.85:
            text = "B " + "mesazh i gjate " * 14  # three parts; answered with the help text
        else:
            events.append(Event(rng.uniform(0, span), "sms", STRANGER_BASE + i, "B"))
            continue
        events.append(Event(rng.uniform(0, span), "sms", i, text))
    for j in range(movements):
        events.append(Event(rng.uniform(0, span), "movement", messages + j))
    for _ in range(kills):
        events.append(Event(rng.uniform(0, span), "kill"))
    for _ in range(max(1, kills // 2)):
        name, params = rng.choice(MODEM_FAULTS)
        events.append(Event(rng.uniform(0, span), "modem_fault", fault=name, params=params))
    for _ in range(max(1, kills // 4)):
        name, params = rng.choice(BANK_FAULTS)
        events.append(Event(rng.uniform(0, span), "bank_fault", fault=name, params=params))
    return sorted(events, key=lambda e: e.at)


def make_seed(path: Path, customers: int) -> None:
    data = {"customers": [
        {"id": f"C{i:05d}", "name": f"Campaign {i}", "kind": "private",
         "accounts": [
             {"id": f"A{i:05d}", "kind": "current", "number": f"2220000{i:09d}",
              "currency": "EUR", "opening_balance": "5000.00"},
             {"id": f"S{i:05d}", "kind": "savings", "number": f"3330000{i:09d}",
              "currency": "EUR", "opening_balance": "100.00"}],
         "agreements": [{"id": f"G{i:05d}", "phone": phone(i),
                         "services": ["alerts", "balance", "topup"], "alert_limit": "500",
                         "language": "sq", "active": True}]}
        for i in range(customers)]}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


class Daemon:
    """`appliance run` as its own process, restarted after every kill. In a fleet
    (bench/campaign_fleet.py) it is one box of several on a shared database: `box` names
    it, `url` is the shared PostgreSQL database (else `tmp/appliance.sqlite`, which may be
    a link to the shared file), `lease` its outbox claims' lease."""

    def __init__(self, tmp: Path, bank_url: str, token: Path, link: Path, *,
                 box: str | None = None, url: str | None = None, lease: float | None = None,
                 modem: str = "m1", command_timeout: float = 5,
                 receive: str = "stored") -> None:
        self.db = tmp / "appliance.sqlite"
        self.url = url
        self.config = tmp / "appliance.toml"
        self.log = tmp / "daemon.log"
        database = (f'{{ url = "{url}", state_dir = "{tmp}" }}' if url
                    else f'"{self.db}"')
        self.config.write_text((f'box = "{box}"\n' if box else "") + f"""\
database = {database}
log_level = "info"
[[modems]]
name = "{modem}"
port = "{link}"
operator = "vala"
command_timeout = {command_timeout:g}
receive = "{receive}"
[inbox]
poll_interval = 2
multipart_timeout = 20
[outbox]
max_attempts = 50
backoff_initial = 1
backoff_max = 2
""" + (f"lease = {lease}\n" if lease else "") + f"""\
[bank]
url = "{bank_url}"
token_file = "{token}"
sync_interval = 1
read_timeout = 3
[unknown_sender]
policy = "refuse_once_per_day"
[http]
listen = "127.0.0.1:0"
""", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "APPLIANCE_CRASH_AT")}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from appliance.cli import main; main()", "run",
                 "--config", str(self.config)], stdout=log, stderr=log, env=env)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def ensure_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url is not None:
            return pg_rows(self.url, sql)
        try:
            con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return []
        try:
            return list(con.execute(sql))
        except sqlite3.Error:
            return []
        finally:
            con.close()


def pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` in the PostgreSQL database `url`; none while it cannot be read."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as pg:
            return [tuple(r) for r in pg.execute(sql)]
    except psycopg.Error:
        return []


def wait(predicate: Callable[[], Any], timeout: float, tick: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(tick)
    return True


def _modem(link: Path, state: Path, delay: str, time_scale: float, seed: int,
           **kwargs: Any) -> Any:
    kwargs["seed"] = seed
    if time_scale != 1.0:
        if "time_scale" not in inspect.signature(FakeModemServer).parameters:
            raise SystemExit("campaign: --time-scale needs a fake modem that has it")
        kwargs["time_scale"] = time_scale
    return FakeModemServer(link, state, delay, **kwargs).start()


def run(seed: int, kills: int, messages: int, delay: str, time_scale: float,
        span: float, drain_timeout: float, keep: Path | None = None,
        receive: str = "stored") -> Outcome:
    movements = max(4, messages // 4)
    events = schedule(seed, kills, messages, movements, span)
    with contextlib.ExitStack() as stack:
        tmp = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campaign-")))
        bank = start_bank(stack, tmp, seed, messages + movements)
        link = tmp / "modem"
        modem = _modem(link, tmp / "fm", delay, time_scale, seed)
        stack.callback(modem.stop)
        daemon = Daemon(tmp, bank.url, bank.token_file, link, receive=receive)
        daemon.start()
        stack.callback(daemon.kill)
        if not wait(lambda: daemon.rows("SELECT 1 FROM sync_state"), 60):
            raise SystemExit(f"campaign: the daemon never synced; see {daemon.log}")

        delivered: Counter[str] = Counter()
        sms = 0
        alerted: list[str] = []
        faults = 0
        t0 = time.monotonic()
        pause = threading.Event()
        for ev in events:
            pause.wait(max(0.0, t0 + ev.at - time.monotonic()))
            if ev.kind == "sms":
                # One stored row per part: what the box must keep and decide for this phone.
                delivered[phone(ev.who)] += len(modem.deliver(phone(ev.who), ev.text))
                sms += 1
            elif ev.kind == "movement":
                bank.book_movement(f"A{ev.who:05d}", Decimal("-600.00"), "card_payment")
                alerted.append(phone(ev.who))
            elif ev.kind == "kill":
                daemon.kill()
                pause.wait(random.Random(ev.at).uniform(0.0, 0.3))
                daemon.start()
            elif ev.kind == "modem_fault":
                modem.fault(ev.fault, **ev.params)
                faults += 1
            elif ev.kind == "bank_fault":
                bank.set_fault(ev.fault, **ev.params)
                faults += 1
        modem.reset_faults()
        bank.set_fault("none")
        daemon.ensure_running()
        drain0 = time.monotonic()
        wait(lambda: _drained(daemon, delivered, alerted), drain_timeout, tick=0.25)
        drain = time.monotonic() - drain0
        if keep is not None:  # the modem's record, for a look at a run after the fact
            (tmp / "modem-sent.json").write_text(
                json.dumps([m.to_json() for m in modem.sent(True)], indent=1), encoding="utf-8")
        return _judge(seed, kills, faults, sms, daemon, modem, bank, delivered, alerted, drain)


def start_bank(stack: contextlib.ExitStack, tmp: Path, seed: int, customers: int) -> Any:
    """The fake bank, seeded with `customers` customers, closed with `stack`."""
    seed_file = tmp / "bank-seed.yaml"
    make_seed(seed_file, customers)
    bank = FakeBankServer(tmp / "bank", seed=seed_file).start()
    stack.callback(bank.close)
    return bank


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, action="append", required=True,
                   help="a seed (repeat for several runs)")
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--messages", type=int, default=40)
    p.add_argument("--modem-delay", choices=("none", "realistic"), default="none")
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--span", type=float, default=None,
                   help="seconds over which the schedule runs (default: 1.5 s a kill; "
                        "a fleet's: each box down a third of the time)")
    p.add_argument("--drain-timeout", type=float, default=180.0)
    p.add_argument("--keep", type=Path, default=None, help="keep the run's files here")
    p.add_argument("--json", action="store_true", help="one JSON object per run, no table")
    p.add_argument("--receive", choices=("stored", "direct"), default="stored",
                   help="the modem's `receive` key (one daemon): stored, or direct (+CMT, "
                        "+CDS, +CNMA)")
    p.add_argument("--boxes", type=int, default=1,
                   help="boxes on one database, each its own daemon and modem "
                        "(bench/campaign_fleet.py); 1: the single daemon")
    p.add_argument("--postgres", action="store_true",
                   help="the boxes share a private PostgreSQL cluster (else one SQLite file)")
    p.add_argument("--lease", type=float, default=6.0,
                   help="a fleet box's outbox lease, s (its modem's command timeout: a quarter)")
    p.add_argument("--aim", type=float, default=0.5,
                   help="the share of a fleet's kills that wait up to 1 s for the box to be "
                        "mid-send (the rest land at random moments)")
    a = p.parse_args(argv)
    if a.time_scale <= 0:
        p.error("--time-scale must be > 0")
    if a.boxes < 1 or a.lease <= 0:
        p.error("--boxes must be >= 1 and --lease > 0")
    fleet = a.boxes > 1 or a.postgres
    if fleet:
        import campaign_fleet
    if a.span is not None:
        span = a.span
    elif fleet:
        span = campaign_fleet.default_span(a.kills, a.boxes, a.lease)
    else:
        span = max(5.0, 1.5 * a.kills)
    outcomes = []
    for seed in a.seed:
        keep = a.keep / str(seed) if a.keep else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
        if fleet:
            o = campaign_fleet.run_fleet(
                seed, a.kills, a.messages, a.modem_delay, a.time_scale, span, a.drain_timeout,
                boxes=a.boxes, postgres=a.postgres, lease=a.lease, aim=a.aim, keep=keep)
        else:
            o = run(seed, a.kills, a.messages, a.modem_delay, a.time_scale, span,
                    a.drain_timeout, keep, receive=a.receive)
        outcomes.append(o)
        if a.json:
            print(json.dumps({**asdict(o), "ok": o.ok}), flush=True)
        if not o.ok:
            print(f"FAILED seed {seed}; replay: .venv/bin/python bench/campaign.py "
                  f"--seed {seed} --kills {a.kills} --messages {a.messages} "
                  f"--modem-delay {a.modem_delay} --time-scale {a.time_scale} --span {span}"
                  + (f" --boxes {a.boxes} --lease {a.lease} --aim {a.aim}" if fleet else "")
                  + (" --postgres" if a.postgres else "")
                  + (f" --receive {a.receive}" if a.receive != "stored" else ""),
                  file=sys.stderr, flush=True)
    if not a.json:
        Console(width=max(150, Console().width)).print(table(outcomes))
        causes: Counter[str] = Counter()
        for o in outcomes:
            causes.update(o.duplicate_causes)
        if any(o.boxes > 1 for o in outcomes):
            print("rows taken over from a box whose lease ran out: "
                  + ", ".join(f"seed {o.seed}: {o.handed_over}" for o in outcomes))
        for cause, n in causes.most_common():
            print(f"duplicates: {n:3d}  {cause}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
