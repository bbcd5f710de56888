"""Benchmark of the daemon end to end (not a timed test): prints a rich table.

The daemon runs as `appliance run` in a subprocess, exactly as on the box; the fake bank
(seeded with 500 customers) and the fake modem on a pty run in this process.

1. Latency: 1,000 `B`, one at a time, zero modem delay: time from the network handing the
   message to the modem until the modem accepted the reply (`AT+CMGS` answered).
   Target p99 < 200 ms.
2. Throughput: a burst of 2,000 `B` from 500 numbers, zero delay; the modem's storage
   holds 70 and the network holds back the rest until slots are freed, as an SMSC does.
   Target > 100 messages answered per second.
3. Realistic modem delay (AT+CMGS 1-4 s): with 5,000 alerts queued, the modem's send slot
   is busy >= 95 % of the time, and a customer's `B` overtakes the queued alerts.
4. Peak RSS of the daemon process (VmHWM) over all phases. Target < 100 MB.

Each phase's daemon works from its own SQLite file, or with `--postgres` from its own
database in one private PostgreSQL cluster (bench/stores.py), as a fleet's box would.

Run: .venv/bin/python bench/bench_daemon.py [--quick] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stores import shared_databases  # noqa: E402

from appliance.fakebank.server import FakeBankServer  # noqa: E402
from appliance.fakemodem.server import FakeModemServer  # noqa: E402
from appliance.store import open_database, queries  # noqa: E402

console = Console()
BALANCE_FORMS = ("B", "b", "Bilanc", "bilanc")


def phone(i: int) -> str:
    return f"+38344{100000 + i:06d}"


def make_seed(path: Path, customers: int) -> None:
    data = {"customers": [
        {"id": f"C{i:05d}", "name": f"Bench {i}", "kind": "private",
         "accounts": [{"id": f"A{i:05d}", "kind": "current",
                       "number": f"2220000{i:09d}", "currency": "EUR",
                       "opening_balance": "1000.00"}],
         "agreements": [{"id": f"G{i:05d}", "phone": phone(i),
                         "services": ["alerts", "balance", "topup"], "alert_limit": "500",
                         "language": "sq", "active": True}]}
        for i in range(customers)]}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def wait(predicate: Callable[[], Any], timeout: float, what: str, tick: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        pause.wait(tick)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    db: Path | str  # a SQLite file, or a PostgreSQL URL

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def start_daemon(tmp: Path, name: str, bank: FakeBankServer, link: Path,
                 timeout: float = 30, modem_keys: str = "",
                 database: str | None = None) -> Daemon:
    """`appliance run` on `link`, working from `database` (a PostgreSQL URL) or else the
    SQLite file `tmp/NAME.sqlite`; returns once its first bank sync is in."""
    db: Path | str = tmp / f"{name}.sqlite" if database is None else database
    where = (f'database = "{db}"' if database is None else
             f'database = {{ url = "{db}", state_dir = "{tmp / name}" }}')
    config = tmp / f"{name}.toml"
    config.write_text(f"""\
{where}
log_level = "warning"
[[modems]]
name = "m1"
port = "{link}"
operator = "vala"
command_timeout = 30
{modem_keys}[inbox]
poll_interval = 30
[bank]
url = "{bank.url}"
token_file = "{bank.token_file}"
sync_interval = 300
page_size = 1000
[http]
listen = "127.0.0.1:0"
""", encoding="utf-8")
    log = (tmp / f"{name}.log").open("ab")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_CRASH_AT")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from appliance.cli import main; main()", "run", "--config",
         str(config)], stdout=log, stderr=log, env=env)
    log.close()

    wait(lambda: last_sync_in(db), timeout, "the daemon's first sync", tick=0.05)
    return Daemon(proc, db)


def last_sync_in(db: Path | str) -> bool:
    """Whether the daemon working from `db` has recorded a bank sync (read from outside)."""
    query = "SELECT value FROM sync_state WHERE key = %s"
    if isinstance(db, str):
        import psycopg

        try:
            with psycopg.connect(db, connect_timeout=2) as pg:
                return pg.execute(query, (queries.STATE_LAST_SYNC_AT,)).fetchone() is not None
        except psycopg.Error:  # not created or not migrated yet
            return False
    if not db.exists():
        return False
    try:
        con = sqlite3.connect(db, timeout=1)
        try:
            row = con.execute(query.replace("%s", "?"),
                              (queries.STATE_LAST_SYNC_AT,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return row is not None


def sent_count(modem: FakeModemServer) -> int:
    return len(modem.interpreter.sent_parts)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def phase_latency_and_burst(tmp: Path, bank: FakeBankServer, n_latency: int, n_burst: int,
                            numbers: int, database: str | None = None) -> dict[str, float]:
    link = tmp / "modem-fast"
    modem = FakeModemServer(link, tmp / "fm-fast", "none", seed=1).start()
    daemon = start_daemon(tmp, "fast", bank, link, database=database)
    out: dict[str, float] = {}
    try:
        # Warm-up (first queries, page cache).
        for i in range(5):
            n = sent_count(modem)
            modem.deliver(phone(numbers - 1 - i), "B")
            wait(lambda n=n: sent_count(modem) > n, 30, "warm-up reply")
        latencies: list[float] = []
        for i in range(n_latency):
            n = sent_count(modem)
            t0 = datetime.now(UTC)
            modem.deliver(phone(i % numbers), "B")
            wait(lambda n=n: sent_count(modem) > n, 30, f"reply {i}")
            at = modem.interpreter.sent_parts[n].at
            latencies.append((at - t0).total_seconds() * 1000)
        out["lat_p50"] = pct(latencies, 50)
        out["lat_p95"] = pct(latencies, 95)
        out["lat_p99"] = pct(latencies, 99)
        out["lat_mean"] = statistics.fmean(latencies)
        out["lat_n"] = len(latencies)

        # A service-centre timestamp has one-second resolution: let it move on, so that no
        # burst message equals (and is deduplicated as) a latency message just sent.
        threading.Event().wait(1.1)
        base = sent_count(modem)
        cpu0 = daemon.cpu_seconds()
        own0 = time.process_time()
        t0 = time.monotonic()
        for i in range(n_burst):
            # The SMSC holds what the modem's full storage cannot take. The fake modem
            # re-offers its whole backlog after every delete (quadratic in its size), so the
            # backlog is kept at a few dozen here: the daemon still sees a full storage and
            # a new message for every slot it frees, and the fake's cost stays flat.
            while len(modem.interpreter.network_pending) > 50:
                threading.Event().wait(0.002)
            # Four balance queries per number; written differently, as people do (the
            # same text from one number within one second is one message: its dedupe key).
            modem.deliver(phone(i % numbers), BALANCE_FORMS[(i // numbers) % 4])
        delivered = time.monotonic() - t0
        wait(lambda: sent_count(modem) - base >= n_burst, 600, "every burst reply", tick=0.05)
        last = max(p.at for p in modem.interpreter.sent_parts[base:])
        first_in = datetime.now(UTC).timestamp() - (time.monotonic() - t0)
        elapsed = last.timestamp() - first_in
        out["burst_cpu_ms"] = (daemon.cpu_seconds() - cpu0) / n_burst * 1000
        out["burst_fakes_cpu_ms"] = (time.process_time() - own0) / n_burst * 1000
        out["burst_n"] = n_burst
        out["burst_s"] = elapsed
        out["burst_rate"] = n_burst / elapsed
        out["burst_deliver_s"] = delivered
        out["rss_fast"] = daemon.peak_rss_mb()
        replies = {(p.to) for p in modem.interpreter.sent_parts[base:]}
        out["burst_numbers"] = len(replies)
    finally:
        out["exit_fast"] = daemon.stop()
        modem.stop()
    return out


def phase_realistic(tmp: Path, bank: FakeBankServer, numbers: int, alerts: int,
                    window: float, database: str | None = None) -> dict[str, float]:
    link = tmp / "modem-real"
    modem = FakeModemServer(link, tmp / "fm-real", "realistic", seed=2)
    # The modem's own view of its send slot: every AT+CMGS's transmission time.
    busy: list[tuple[float, float]] = []
    real_submit = modem.interpreter.delays.submit

    def submit(link_open: bool = False) -> float:
        d = real_submit(link_open)
        busy.append((time.monotonic(), d))
        return d

    modem.interpreter.delays.submit = submit  # type: ignore[method-assign]
    modem.start()
    out: dict[str, float] = {}
    # Queue the alerts before the daemon starts (a bank feed that came back after hours).
    db = open_database(database or tmp / "real.sqlite")
    now = datetime.now(UTC)
    with db.atomic():
        for i in range(alerts):
            queries.enqueue_outbox(phone(i % numbers), f"Njoftim {i}: -600,00 EUR", "alert", now,
                                   dedupe_key=f"bench-alert:{i}")
    db.close()
    daemon = start_daemon(tmp, "real", bank, link, timeout=60, database=database)
    try:
        wait(lambda: sent_count(modem) >= 2, 60, "the first alerts out", tick=0.05)
        customer = phone(numbers - 1)
        before = sent_count(modem)
        t0 = datetime.now(UTC)
        modem.deliver(customer, "B")
        wait(lambda: any(p.to == customer and "Bilanc" not in p.text[:0] and
                         not p.text.startswith("Njoftim")
                         for p in modem.interpreter.sent_parts[before:]), 60, "the reply",
             tick=0.02)
        parts = modem.interpreter.sent_parts[before:]
        idx = next(i for i, p in enumerate(parts) if p.to == customer
                   and not p.text.startswith("Njoftim"))
        out["overtake_alerts_between"] = idx
        out["overtake_s"] = (parts[idx].at - t0).total_seconds()
        out["alerts_queued"] = alerts
        # Send-slot usage over a window of steady sending.
        start = time.monotonic()
        threading.Event().wait(window)
        end = time.monotonic()
        used = 0.0
        for started, d in busy:
            # `started` is when the modem began transmitting (the delay follows it).
            lo, hi = max(started, start), min(started + d, end)
            used += max(0.0, hi - lo)
        out["busy_pct"] = 100 * used / (end - start)
        out["window_s"] = end - start
        out["sent_in_window"] = sum(1 for s, _ in busy if start <= s <= end)
        out["rss_real"] = daemon.peak_rss_mb()
    finally:
        out["exit_real"] = daemon.stop()
        modem.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller numbers, for a smoke run")
    ap.add_argument("--latency", type=int, default=1000)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--numbers", type=int, default=500)
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this directory and keep it (logs, databases)")
    ap.add_argument("--postgres", action="store_true",
                    help="each phase's daemon on a private PostgreSQL cluster, not SQLite")
    args = ap.parse_args()
    if args.quick:
        args.latency, args.burst, args.window = 100, 200, 10.0
    with (tempfile.TemporaryDirectory(prefix="bench-daemon-") as d,
          shared_databases(args.postgres) as fresh):
        tmp = Path(d) if args.keep is None else args.keep
        tmp.mkdir(parents=True, exist_ok=True)
        seed = tmp / "seed.yaml"
        make_seed(seed, args.numbers)
        bank = FakeBankServer(tmp / "bank", seed=seed).start()
        try:
            console.print(f"[dim]latency: {args.latency} x B …[/dim]")
            fast = phase_latency_and_burst(tmp, bank, args.latency, args.burst, args.numbers,
                                           fresh("fast"))
            console.print(f"[dim]realistic delay: {args.alerts} alerts queued …[/dim]")
            real = phase_realistic(tmp, bank, args.numbers, args.alerts, args.window,
                                   fresh("real"))
        finally:
            bank.close()
    report(fast, real, args)


def report(fast: dict[str, float], real: dict[str, float], args: argparse.Namespace) -> None:
    def ok(good: bool) -> str:
        return "[green]yes[/green]" if good else "[red]NO[/red]"

    rss = max(fast["rss_fast"], real["rss_real"])
    store = "PostgreSQL" if args.postgres else "SQLite"
    t = Table(title=f"appliance daemon benchmark (daemon = `appliance run` subprocess, {store})")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    t.add_column("met", justify="center")
    n = int(fast["lat_n"])
    t.add_row(f"latency p50 ({n} x B, zero delay)", f"{fast['lat_p50']:.1f} ms", "", "")
    t.add_row("latency p95", f"{fast['lat_p95']:.1f} ms", "", "")
    t.add_row("latency p99", f"{fast['lat_p99']:.1f} ms", "< 200 ms",
              ok(fast["lat_p99"] < 200))
    t.add_row(f"burst: {int(fast['burst_n'])} x B from {args.numbers} numbers",
              f"{fast['burst_s']:.1f} s", "", "")
    t.add_row("burst throughput", f"{fast['burst_rate']:.0f} msg/s", "> 100 msg/s",
              ok(fast["burst_rate"] > 100))
    t.add_row("  daemon CPU per message (burst)", f"{fast['burst_cpu_ms']:.1f} ms", "", "")
    t.add_row("  fake modem + bank CPU per message", f"{fast['burst_fakes_cpu_ms']:.1f} ms",
              "", "")
    t.add_row("realistic: send slot busy", f"{real['busy_pct']:.1f} %", ">= 95 %",
              ok(real["busy_pct"] >= 95))
    t.add_row(f"  ({int(real['sent_in_window'])} sends in {real['window_s']:.0f} s)", "", "",
              "")
    t.add_row(f"reply vs {int(real['alerts_queued'])} queued alerts: alerts sent before it",
              f"{int(real['overtake_alerts_between'])}", "<= 1 (the one in flight)",
              ok(real["overtake_alerts_between"] <= 1))
    t.add_row("  reply time with realistic delay", f"{real['overtake_s']:.1f} s", "", "")
    t.add_row("peak RSS of the daemon", f"{rss:.1f} MB", "< 100 MB", ok(rss < 100))
    t.add_row("clean exit on SIGTERM", f"{int(fast['exit_fast'])}, {int(real['exit_real'])}",
              "0, 0", ok(fast["exit_fast"] == 0 and real["exit_real"] == 0))
    console.print(t)


if __name__ == "__main__":
    main()
