"""Salary day on a fleet (issue 14, DESIGN §10): tables, not a timed test.

The bank books `--alerts` salaries (+600 EUR) at once, each on the account of an
agreement whose alert limit is 500 EUR, so each becomes one alert SMS; meanwhile customers
who got no salary text `B`, one every `--trickle-gap` model seconds. Two boxes
(`appliance run` subprocesses, `--boxes`) share one database and `--modems` fake
modems (realistic delays, `--time-scale`), half each, Vala and IPKO SIMs alternating; the
fake modems and the fake bank run in this process and are the witnesses. When half the
alerts are out, one box is killed with SIGKILL; its modems fall silent with it (with
`--restart-after S` it is started again S model seconds later, as systemd would).

Measured, in model (radio) time:
- drain time from the booking to the last alert, against the ideal: parts x mean
  transmission time / modems working (16 until the kill, 8 after);
- each modem's send slot busy % (transmission time over the drain; for the killed box's
  modems, until the kill);
- customer replies' wait (the `B` reaching a modem to its reply's `+CMGS`), p50/p99,
  against one send time;
- after the kill: alerts lost (no modem ever sent one to that phone; the dead box's rows in
  `sending` are counted apart, until a lease hands them over), doubled, and the
  survivor's rate against its modems' limit;
- throughput scaling: the same drain with 1, 2, 4, 8 and 16 modems (`--scaling`), against
  linear.

With `--postgres` the boxes share a private PostgreSQL cluster (Debian's server, started
and stopped here) instead of one SQLite file.

Run: .venv/bin/python bench/salary_day.py [--alerts 50000] [--modems 16] [--boxes 2]
     [--time-scale 0.05] [--scaling 1,2,4,8,16] [--scaling-alerts 40] [--postgres] [--json]
     [--restart-after 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import slots  # noqa: E402
from bench_daemon import pct, wait  # noqa: E402
from stores import shared_databases  # noqa: E402

from appliance.fakebank.ledger import FakeBankDB, iso, money  # noqa: E402
from appliance.fakebank.server import DB_NAME, FakeBankServer  # noqa: E402
from appliance.fakemodem.model import Busy  # noqa: E402
from appliance.fakemodem.server import FakeModemServer  # noqa: E402
from appliance.store import queries  # noqa: E402
from appliance.store.fields import parse_utc_text  # noqa: E402

LIMIT = "500.00"
SALARY = "600.00"
OPENING = "100.00"


def phone(i: int) -> str:
    """Customer i's phone: Vala and IPKO alternating."""
    return f"+383{'44' if i % 2 == 0 else '49'}{i:06d}"


def load_customers(db: FakeBankDB, n: int) -> None:
    """Bulk-load n customers, each with one current account and one agreement (limit 500)."""
    now = iso(datetime.now(UTC))
    services = json.dumps(["alerts", "balance", "topup"])
    db.execute_many("INSERT INTO customers VALUES (?, ?, ?)",
                    [(f"C{i:06d}", f"Customer {i}", "private") for i in range(n)])
    db.execute_many("INSERT INTO agreements (id, customer_id, phone, services, alert_limit, "
                    "language, active) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(f"G{i:06d}", f"C{i:06d}", phone(i), services, LIMIT, "sq", 1)
                     for i in range(n)])
    db.execute_many("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(f"A{i:06d}", f"C{i:06d}", "current", f"1110{i:012d}", "EUR", OPENING, now)
                     for i in range(n)])
    changes = [(kind, f"{p}{i:06d}") for kind, p in (("customer", "C"), ("agreement", "G"),
                                                      ("account", "A")) for i in range(n)]
    db.execute_many("INSERT INTO changes (entity, entity_id) VALUES (?, ?)", changes)
    db.mark_seeded("salary-day")


def book_salaries(db: FakeBankDB, n: int) -> None:
    """The payroll file: customers 0..n-1 get their salary now, in one bank transaction."""
    now = iso(datetime.now(UTC))
    after = money(Decimal(OPENING) + Decimal(SALARY))
    with db.transaction() as c:
        first = int(c.execute("SELECT COALESCE(MAX(seq), 0) FROM movements").fetchone()[0]) + 1
        rows = [(first + i, f"MV{first + i:010d}", f"A{i:06d}", SALARY, "salary", now, after)
                for i in range(n)]
        c.executemany("INSERT INTO movements VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        c.executemany("UPDATE accounts SET balance = ?, as_of = ? WHERE id = ?",
                      [(after, now, f"A{i:06d}") for i in range(n)])
        c.executemany("INSERT INTO changes (entity, entity_id) VALUES (?, ?)",
                      [("movement", r[1]) for r in rows])


@dataclass
class Box:
    name: str
    modems: list[str]
    proc: subprocess.Popen[bytes]
    config: Path
    log: Path


def _launch(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`appliance run` on `config`, its output appended to `log_path`."""
    log = log_path.open("ab")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_CRASH_AT")}
    proc = subprocess.Popen([sys.executable, "-c", "from appliance.cli import main; main()",
                             "run", "--config", str(config)], stdout=log, stderr=log, env=env)
    log.close()
    return proc


def start_box(tmp: Path, name: str, modems: list[tuple[str, Path, str]], db: Path | str,
              bank: FakeBankServer, time_scale: float, log_level: str = "warning") -> Box:
    config = tmp / f"{name}.toml"
    blocks = "".join(f"""
[[modems]]
name = "{m}"
port = "{link}"
operator = "{operator}"
command_timeout = 30
""" for m, link, operator in modems)
    config.write_text(f"""\
box = "{name}"
database = {_database(db, tmp / name)}
log_level = "{log_level}"
{blocks}
[inbox]
poll_interval = 30
[outbox]
backoff_initial = 1
# Scaled like the radio: a claim outlives any one send (4 model s), and a PDU the dead box
# had written waits for a status report (10-12 model s) before the survivor resends it.
lease = {max(1.0, 60 * time_scale):g}
sending_grace = {max(0.5, 15 * time_scale):g}
# A PDU the dead box had written waits this long (300 model s) for its modem to be back.
dead_box_hold = {max(1.0, 300 * time_scale):g}
[bank]
url = "{bank.url}"
token_file = "{bank.token_file}"
sync_interval = 1
page_size = 1000
[http]
listen = "127.0.0.1:0"
""", encoding="utf-8")
    log = tmp / f"{name}.log"
    return Box(name, [m for m, _, _ in modems], _launch(config, log), config, log)


def _database(db: Path | str, state_dir: Path) -> str:
    """The `database` value: the shared SQLite file, or the cluster's URL and the box's own
    directory for its files."""
    if isinstance(db, str):
        state_dir.mkdir(parents=True, exist_ok=True)
        return f'{{ url = "{db}", state_dir = "{state_dir}" }}'
    return f'"{db}"'


def rows(db: Path | str, sql: str) -> list[tuple[object, ...]]:
    if isinstance(db, str):
        import psycopg

        try:
            with psycopg.connect(db, autocommit=True) as pg:
                return [tuple(r) for r in pg.execute(sql)]  # type: ignore[arg-type]
        except psycopg.Error:
            return []
    try:
        con = sqlite3.connect(db, timeout=5)
        try:
            return list(con.execute(sql).fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return []


def synced(db: Path | str) -> bool:
    return bool(rows(db, f"SELECT value FROM sync_state WHERE key = "
                         f"'{queries.STATE_LAST_SYNC_AT}'"))


@dataclass
class Day:
    """One drain, in model seconds unless named otherwise."""

    alerts: int
    modems: int
    boxes: int
    time_scale: float
    database: str = "SQLite"
    drain_s: float = 0.0  # the first alert's transmission to the last one's end
    first_alert_real_s: float = 0.0  # booking to the first alert: the bank sync, real seconds
    ideal_s: float = 0.0
    parts: int = 0
    send_s: float = 0.0  # mean transmission time of one part
    # per modem: send slot busy until its operator's queue was empty (or its own last send
    # ended); raw: over the whole drain, as measured before; unscaled: the fair figure with
    # the daemon's own (real) time between commands not multiplied by the time scale
    busy_pct: dict[str, float] = field(default_factory=dict)
    busy_raw_pct: dict[str, float] = field(default_factory=dict)
    busy_unscaled_pct: dict[str, float] = field(default_factory=dict)
    overlaps: int = 0  # commands of one modem overlapping in its timeline (should be 0)
    operators: dict[str, str] = field(default_factory=dict)  # modem -> its SIM's operator
    sends: dict[str, int] = field(default_factory=dict)  # alerts per modem
    reply_waits: list[float] = field(default_factory=list)
    reply_waits_unscaled: list[float] = field(default_factory=list)  # daemon time unscaled
    # Each B: its number -> (when it reached the fake modem, ISO; which modem): the
    # per-step breakdown of a reply's wait (bench/reply_steps.py) reads it from `asked.json`.
    asked: dict[str, tuple[str, str]] = field(default_factory=dict)
    unanswered: int = 0  # B's left on the dead box's SIMs
    killed: str | None = None
    killed_after: int = 0  # alerts out when the box was killed
    restarted_after: float | None = None  # model seconds from the kill to its restart
    lost: int = 0
    stuck: int = 0  # of the lost: rows the dead box still holds in `sending` at the end
    held: int = 0  # rows the dead box held in `sending` when it was killed
    resent: int = 0  # of those, sent by a survivor's modem once their lease ran out
    doubled: int = 0
    survivor_rate: float = 0.0
    survivor_limit: float = 0.0

    @property
    def rate(self) -> float:
        return self.alerts / self.drain_s if self.drain_s else 0.0

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        del data["asked"]
        data.update(rate=self.rate, wait_p50=pct(self.reply_waits, 50) if self.reply_waits
                    else None, wait_p99=pct(self.reply_waits, 99) if self.reply_waits else None,
                    wait_unscaled_p99=pct(self.reply_waits_unscaled, 99)
                    if self.reply_waits_unscaled else None)
        return data


def run_day(tmp: Path, *, alerts: int, n_modems: int, n_boxes: int, time_scale: float,
            seed: int, trickle_gap: float | None, kill: bool,
            operators: tuple[str, ...] = ("vala", "ipko"), pg_url: str | None = None,
            log_level: str = "warning", restart_after: float | None = None) -> Day:
    """Bank, fake modems and boxes up; book the salaries; drain; judge."""
    tmp.mkdir(parents=True)
    rng = random.Random(seed)
    trickle_base = alerts  # customers from here on get no salary: any SMS to them is a reply
    trickle_max = 0 if trickle_gap is None else alerts + 10_000
    ledger = FakeBankDB(tmp / "bank" / DB_NAME)
    load_customers(ledger, max(alerts, trickle_max))
    ledger.close()
    bank = FakeBankServer(tmp / "bank").start()
    modems: dict[str, FakeModemServer] = {}
    boxes: list[Box] = []
    db: Path | str = tmp / "fleet.sqlite" if pg_url is None else pg_url
    day = Day(alerts, n_modems, n_boxes, time_scale,
              "SQLite" if pg_url is None else "PostgreSQL")
    try:
        for i in range(n_modems):
            name = f"m{i + 1:02d}"
            modems[name] = FakeModemServer(tmp / f"{name}.link", tmp / name, "realistic",
                                           seed=seed + i, time_scale=time_scale,
                                           name=name).start()
        per_box = [list(modems)[b::n_boxes] for b in range(n_boxes)]
        for b, names in enumerate(per_box):
            # Each box has SIMs of every operator (in turn), so that either box alone still
            # sends on-net to everyone.
            spec = [(m, tmp / f"{m}.link", operators[k % len(operators)])
                    for k, m in enumerate(names)]
            day.operators.update({m: op for m, _, op in spec})
            boxes.append(start_box(tmp, f"box{b + 1}", spec, db, bank, time_scale,
                                   log_level))
            if b == 0:  # the first box creates and migrates the database alone
                wait(lambda: synced(db), 120, "box1's first sync", tick=0.1)
        # Every box up before the booking: each modem opened and listed once by its box's
        # inbox. A B sent before its box had opened the modem waited for the box's
        # start-up (seconds of real time, twenty times that in model time at scale 0.05):
        # that measured a restart, not a salary day (it set the p99 of earlier runs).
        wait(lambda: all(_listed(m) for m in modems.values()), 120, "every box up",
             tick=0.1)
        threading.Event().wait(0.5)  # past each box's first sync (its baseline)
        salary_phones = {phone(i) for i in range(alerts)}
        t0 = datetime.now(UTC)
        book_salaries(bank.db, alerts)
        drain(day, modems, boxes, db, salary_phones, t0, rng, trickle_base, trickle_gap, kill,
              restart_after)
        (tmp / "asked.json").write_text(json.dumps(day.asked), encoding="utf-8")
        (tmp / "day.json").write_text(json.dumps({"t0": t0.isoformat()}), encoding="utf-8")
        (tmp / "timeline.json").write_text(json.dumps({
            name: [(b.at.isoformat(), b.command[:12], b.seconds) for b in m.timeline()
                   if b.at >= t0] for name, m in modems.items()}), encoding="utf-8")
    finally:
        for box in boxes:
            if box.proc.poll() is None:
                box.proc.send_signal(signal.SIGTERM)
        for box in boxes:
            try:
                box.proc.wait(60)
            except subprocess.TimeoutExpired:
                box.proc.kill()
        for m in modems.values():
            m.stop()
        bank.close()
    return day


def _listed(modem: FakeModemServer) -> bool:
    """Whether a box opened this modem and its inbox listed it (`+CMGL`)."""
    return any(b.command == "+CMGL" for b in modem.timeline())


class _Witness:
    """What the fake modems sent so far, taken in incrementally: the drain looks four
    times a second, and rescanning 50,000 parts each time kept this process (the fake
    modems' too) busy enough to delay their answers, which the measure counted as the
    daemon's turnaround."""

    def __init__(self, modems: dict[str, FakeModemServer], salary: set[str]) -> None:
        self._modems = modems
        self._salary = salary
        self._seen = dict.fromkeys(modems, 0)
        self.sent_to: set[str] = set()
        self.alerts = 0  # parts to salary phones (a resend counts again)
        self.missing = len(salary)  # salary phones no modem sent to yet

    def look(self) -> None:
        for name, m in self._modems.items():
            parts = m.interpreter.sent_parts
            new = parts[self._seen[name]:len(parts)]
            self._seen[name] += len(new)
            for p in new:
                if p.to in self._salary:
                    self.alerts += 1
                    self.missing -= p.to not in self.sent_to
                self.sent_to.add(p.to)


def drain(day: Day, modems: dict[str, FakeModemServer], boxes: list[Box], db: Path | str,
          salary: set[str], t0: datetime, rng: random.Random, trickle_base: int,
          gap: float | None, kill: bool, restart_after: float | None = None) -> None:
    scale = day.time_scale
    pause = threading.Event()
    asked: dict[str, datetime] = {}
    asked_via: dict[str, str] = {}  # the modem each B reached
    dead: set[str] = set()
    killed_at: datetime | None = None
    held: set[str] = set()
    killed_real = 0.0
    next_b = time.monotonic()
    j = trickle_base
    seen = _Witness(modems, salary)
    deadline = time.monotonic() + 600 + day.alerts * 4.0 * scale / max(1, day.modems // 2)
    while True:
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError("the salary day did not drain")
        seen.look()
        out = seen.alerts
        if kill and killed_at is None and out >= day.alerts // 2:
            victim = boxes[-1]
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(30)
            killed_at = datetime.now(UTC)
            dead = set(victim.modems)
            day.killed, day.killed_after = victim.name, out
            held = _stuck(db, dead, salary)
            killed_real = now
        if restart_after is not None and killed_at is not None and day.restarted_after is None \
                and now - killed_real >= restart_after * scale:
            # As systemd's Restart= would: the same config, its modems (still holding what
            # came meanwhile, status reports too) opened again.
            victim = boxes[-1]
            victim.proc = _launch(victim.config, victim.log)
            day.restarted_after = restart_after
        if gap is not None and now >= next_b and out < day.alerts:
            live = [n for n in modems if n not in dead]
            number = phone(j)
            via = rng.choice(live)
            modems[via].deliver(number, "B")
            asked[number] = datetime.now(UTC)
            asked_via[number] = via
            j += 1
            next_b = now + gap * scale
        sent_to = seen.sent_to
        # A B that reached a modem of the dead box waits on that SIM for its return:
        # unanswered until then (counted), unless the box had stored it before dying.
        answered = all(n in sent_to or asked_via[n] in dead for n in asked)
        # A restart asked for is made even when the survivors drained the day first.
        restart_due = restart_after is not None and killed_at is not None \
            and day.restarted_after is None
        if answered and not seen.missing and not restart_due:
            break
        # Without a lease taking them over, the dead box's claims never go out: give up on
        # them two minutes after the kill (the table counts them).
        if answered and dead and now - killed_real > 120 and salary <= (
                sent_to | _stuck(db, dead, salary)):
            break
        pause.wait(min(0.25, gap * scale if gap else 0.25))
    if dead:  # the dead box's claims settle (sent by a survivor, or not): doubles show
        wait(lambda: not _stuck(db, dead, salary), 120, "the dead box's claims", tick=0.25)
    judge(day, modems, boxes, db, salary, t0, asked, asked_via, dead, killed_at, held)


def _stuck(db: Path | str, dead: set[str], salary: set[str]) -> set[str]:
    marks = ", ".join(f"'{m}'" for m in sorted(dead))
    got = rows(db, f"SELECT \"to\" FROM outbox_message WHERE state = 'sending' "
                   f"AND modem IN ({marks})")
    return {str(r[0]) for r in got} & salary


def judge(day: Day, modems: dict[str, FakeModemServer], boxes: list[Box], db: Path | str,
          salary: set[str], t0: datetime, asked: dict[str, datetime],
          asked_via: dict[str, str], dead: set[str], killed_at: datetime | None,
          held: set[str]) -> None:
    scale = day.time_scale
    parts = [(name, p) for name, m in modems.items() for p in list(m.interpreter.sent_parts)]
    alerts = [(name, p) for name, p in parts if p.to in salary]
    per_phone = Counter(p.to for _, p in alerts)
    day.sends = {name: sum(1 for n, _ in alerts if n == name) for name in modems}
    day.parts = len(alerts)
    day.lost = sum(1 for n in salary if per_phone[n] == 0)
    still = _stuck(db, dead, salary) if dead else set()
    day.stuck = sum(1 for n in still if per_phone[n] == 0)
    day.held = len(held)
    by_survivors = {p.to for name, p in alerts if name not in dead and killed_at is not None
                    and p.at > killed_at}
    day.resent = len(held & by_survivors)
    day.doubled = sum(c - 1 for c in per_phone.values() if c > 1)
    sends = {name: [b for b in m.timeline() if b.command == "<message>" and b.at >= t0]
             for name, m in modems.items()}
    every = [b.seconds for s in sends.values() for b in s]
    day.send_s = statistics.fmean(every) if every else 0.0
    end = max(b.at.timestamp() + b.seconds * scale for s in sends.values() for b in s)
    start = min(b.at.timestamp() for s in sends.values() for b in s)
    day.drain_s = (end - start) / scale
    day.first_alert_real_s = start - t0.timestamp()
    timelines = {name: [b for b in m.timeline() if b.at >= t0] for name, m in modems.items()}
    last_claim = _last_claims(db, day.operators)
    day.overlaps = sum(slots.overlaps(slots.intervals(t, scale)) for t in timelines.values())
    for name, t in timelines.items():
        # raw: over the whole drain (until the kill, for the dead box's modems), so a
        # modem that stood idle while others still sent counts as idle
        until = killed_at.timestamp() if killed_at is not None and name in dead else end
        day.busy_raw_pct[name] = slots.slot(t, scale, start, until).busy_pct
        # fair: until its operator's queue was empty (the last claim of a row for it, by
        # any modem of that operator) or its own last send ended, whichever is later: an
        # idle tail with nothing left to send is not the daemon's turnaround
        own_end = max((b.at.timestamp() + b.seconds * scale for b in sends[name]),
                      default=start)
        op_end = last_claim.get(day.operators.get(name, ""), until)
        fair = slots.slot(t, scale, start, min(until, max(own_end, op_end)))
        day.busy_pct[name] = fair.busy_pct
        day.busy_unscaled_pct[name] = fair.unscaled_pct
    if killed_at is None:
        day.ideal_s = day.parts * day.send_s / day.modems
    else:
        before = day.killed_after
        survivors = day.modems - len(dead)
        day.ideal_s = (before * day.send_s / day.modems
                       + (day.parts - before) * day.send_s / survivors)
        after = [p for name, p in alerts if p.at > killed_at]
        if after:
            span = (max(p.at for p in after) - killed_at).total_seconds() / scale
            day.survivor_rate = len(after) / span if span else 0.0
        day.survivor_limit = survivors / day.send_s if day.send_s else 0.0
    first: dict[str, tuple[datetime, str]] = {}  # each B's reply: its first part, modem
    for name, p in parts:
        if p.to in asked and p.at >= asked[p.to] and (p.to not in first
                                                       or p.at < first[p.to][0]):
            first[p.to] = (p.at, name)
    day.reply_waits = [(first[n][0] - at).total_seconds() / scale
                       for n, at in asked.items() if n in first]
    queued = _replies_queued(db)
    day.reply_waits_unscaled = [
        _unscaled_wait(at, asked_via[n], *first[n], queued.get(n), timelines, scale)
        for n, at in asked.items() if n in first]
    day.unanswered = len(asked) - len(day.reply_waits)
    day.asked = {n: (at.isoformat(), asked_via[n]) for n, at in asked.items()}


def _unscaled_wait(arrival: datetime, via: str, reply_at: datetime, reply_modem: str,
                   queued: datetime | None, timelines: dict[str, list[Busy]],
                   scale: float) -> float:
    """A reply's wait with the daemon's time unscaled (`slots.unscaled_wait`), from the
    B's arrival on its modem to its reply's +CMGS; the reply queued at `queued` (unknown:
    at the end of the B's read)."""
    a, end = arrival.timestamp(), reply_at.timestamp()
    if queued is None:
        at = next((b.at.timestamp() + b.seconds * scale for b in timelines[via]
                   if b.at >= arrival and b.command in ("+CMGL", "+CMGR")), a)
    else:
        at = queued.timestamp()
    return slots.unscaled_wait(a, min(max(a, at), end), end, timelines[via],
                               timelines[reply_modem], scale)


def _replies_queued(db: Path | str) -> dict[str, datetime]:
    """Each B's sender -> when its (first) reply was queued."""
    out: dict[str, datetime] = {}
    for sender, at in rows(db, "SELECT i.sender, MIN(o.created_at) FROM inbound_message i "
                               "JOIN outbox_message o ON o.inbound_id = i.id "
                               "GROUP BY i.sender"):
        out[str(sender)] = at if isinstance(at, datetime) else parse_utc_text(str(at))
    return out


def _last_claims(db: Path | str, operators: dict[str, str]) -> dict[str, float]:
    """Per operator, when the last row sent by one of its modems was claimed (the queue
    for that operator was empty from then on; `sending_at` is a row's last claim)."""
    out: dict[str, float] = {}
    for modem, at in rows(db, "SELECT modem, sending_at FROM outbox_message "
                              "WHERE sending_at IS NOT NULL AND state = 'sent'"):
        op = operators.get(str(modem))
        if op is None:
            continue
        when = at if isinstance(at, datetime) else parse_utc_text(str(at))
        out[op] = max(out.get(op, 0.0), when.timestamp())
    return out


def tables(day: Day, scaling: list[Day]) -> list[Table]:
    t = Table(title=f"salary day: {day.alerts:,} alerts on {day.modems} modems / {day.boxes} "
                    f"boxes sharing {day.database}, realistic delays (time scale "
                    f"{day.time_scale:g}), model time")
    for c in ("measure", "value", "note"):
        t.add_column(c, justify="right" if c == "value" else "left")
    t.add_row("first alert after the booking", f"{day.first_alert_real_s:.1f} s real",
              "the bank sync (real time: not scaled)")
    t.add_row("drain time", f"{day.drain_s / 3600:.2f} radio-h",
              f"{day.drain_s:,.0f} s, first alert to last")
    t.add_row("ideal", f"{day.ideal_s / 3600:.2f} radio-h",
              f"{day.parts:,} parts x {day.send_s:.2f} s / modems working")
    t.add_row("drain / ideal", f"{day.drain_s / day.ideal_s:.2f}" if day.ideal_s else "-", "")
    t.add_row("throughput", f"{day.rate:.2f} alerts/s", "over the drain")
    for label, values, note in (
            ("send slot busy, min / median", day.busy_pct,
             "until its operator's queue was empty; per modem below"),
            ("  raw: over the whole drain", day.busy_raw_pct, "an empty queue's tail counts"),
            ("  daemon time unscaled", day.busy_unscaled_pct,
             "estimate: its real ms not multiplied by the time scale")):
        busy = sorted(values.values())
        if busy:
            t.add_row(label, f"{busy[0]:.1f} / {statistics.median(busy):.1f} %", note)
    if day.overlaps:
        t.add_row("  overlapping commands", f"{day.overlaps}",
                  "in the fake modems' timelines: a clock step? (merged, not summed)")
    if day.reply_waits:
        t.add_row("customer reply wait p50", f"{pct(day.reply_waits, 50):.2f} s",
                  f"{len(day.reply_waits)} B's during the drain, to the reply's +CMGS")
        t.add_row("customer reply wait p99", f"{pct(day.reply_waits, 99):.2f} s",
                  f"one send time: {day.send_s:.2f} s")
        u = day.reply_waits_unscaled
        t.add_row("  daemon time unscaled, p50 / p99",
                  f"{pct(u, 50):.2f} / {pct(u, 99):.2f} s",
                  "estimate: radio time as measured, the daemon's real")
    if day.unanswered:
        t.add_row("  B's unanswered", f"{day.unanswered}",
                  "they reached the dead box's SIMs: answered when it is back")
    if day.killed:
        t.add_row("box SIGKILLed", day.killed, f"after {day.killed_after:,} alerts")
        if day.restarted_after is not None:
            t.add_row("  restarted", f"{day.restarted_after:g} s later",
                      "as systemd's Restart= would (--restart-after)")
        t.add_row("alerts lost", f"{day.lost}",
                  f"{day.stuck} of them still held in `sending` by the dead box")
        t.add_row("claimed by the dead box at the kill", f"{day.held}",
                  f"{day.resent} of them sent by the survivor once their lease ran out")
        t.add_row("alerts doubled", f"{day.doubled}", "")
        t.add_row("survivor's rate", f"{day.survivor_rate:.2f} alerts/s",
                  f"its modems' limit {day.survivor_limit:.2f}/s")
    per = Table(title="send slot busy per modem")
    for c in ("modem", "operator", "alerts", "busy", "raw", "unscaled"):
        per.add_column(c, justify="left" if c in ("modem", "operator") else "right")
    for name, value in day.busy_pct.items():
        per.add_row(name, day.operators.get(name, ""), f"{day.sends.get(name, 0):,}",
                    f"{value:.1f} %", f"{day.busy_raw_pct[name]:.1f} %",
                    f"{day.busy_unscaled_pct[name]:.1f} %")
    out = [t, per]
    if scaling:
        s = Table(title="throughput scaling (same drain per modem, model time)")
        for c in ("modems", "alerts", "alerts/s", "linear", "of linear"):
            s.add_column(c, justify="right")
        base = scaling[0].rate / scaling[0].modems
        for d in scaling:
            linear = base * d.modems
            s.add_row(str(d.modems), f"{d.alerts:,}", f"{d.rate:.2f}", f"{linear:.2f}",
                      f"{d.rate / linear:.2f}" if linear else "-")
        out.append(s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=50_000)
    ap.add_argument("--modems", type=int, default=16)
    ap.add_argument("--boxes", type=int, default=2)
    ap.add_argument("--time-scale", type=float, default=0.05)
    ap.add_argument("--trickle-gap", type=float, default=20.0,
                    help="model seconds between two customers' B (0: none)")
    ap.add_argument("--operators", default="vala,ipko",
                    help="the SIMs' operators, in turn over each box's modems")
    ap.add_argument("--no-kill", action="store_true", help="no box is killed at half-time")
    ap.add_argument("--restart-after", type=float, default=None,
                    help="model seconds after the kill the killed box is started again, as "
                         "systemd's Restart= would (default: it stays dead)")
    ap.add_argument("--scaling", default="1,2,4,8,16", help="modem counts ('' for none)")
    ap.add_argument("--scaling-alerts", type=int, default=40, help="alerts per modem")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--log-level", default="warning", help="the boxes' log level")
    ap.add_argument("--postgres", action="store_true",
                    help="the boxes share a private PostgreSQL cluster, not a SQLite file")
    args = ap.parse_args()
    operators = tuple(o for o in args.operators.split(",") if o)
    with tempfile.TemporaryDirectory(prefix="bench-salary-") as d, \
            shared_databases(args.postgres) as fresh:
        tmp = Path(d) if args.keep is None else args.keep
        tmp.mkdir(parents=True, exist_ok=True)
        print(f"salary day: {args.alerts:,} alerts …", file=sys.stderr)
        day = run_day(tmp / "day", alerts=args.alerts, n_modems=args.modems,
                      n_boxes=args.boxes, time_scale=args.time_scale, seed=args.seed,
                      trickle_gap=args.trickle_gap or None, operators=operators,
                      kill=not args.no_kill and args.boxes > 1, pg_url=fresh("day"),
                      log_level=args.log_level, restart_after=args.restart_after)
        scaling: list[Day] = []
        for k in [int(x) for x in args.scaling.split(",") if x]:
            print(f"scaling: {k} modems …", file=sys.stderr)
            scaling.append(run_day(tmp / f"scale-{k}", alerts=args.scaling_alerts * k,
                                   n_modems=k, n_boxes=min(k, args.boxes),
                                   time_scale=args.time_scale, seed=args.seed,
                                   trickle_gap=None, kill=False, operators=operators,
                                   pg_url=fresh(f"scale_{k}")))
    console = Console(width=120)
    for table in tables(day, scaling):
        console.print(table)
    if args.json:
        print(json.dumps({"day": day.to_json(), "scaling": [s.to_json() for s in scaling]}))


if __name__ == "__main__":
    main()
