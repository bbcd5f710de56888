"""Benchmark: bank sync of 100,000 movements across 10,000 agreements into a fresh database.

    .venv/bin/python bench/bench_sync.py [--movements N] [--agreements N] [--page-size N]
        [--postgres]

The fresh database is a SQLite file, or with `--postgres` a database in a private
PostgreSQL cluster (bench/stores.py) reached over TCP on loopback, as a fleet's boxes reach
theirs.

The fake bank runs in its own process (so that its memory is not counted), with its ledger
bulk-generated straight into its SQLite file. This process then runs `sync_once` over real
HTTP on loopback into a fresh appliance database (alerting the whole backlog, so that the
alert path is measured too) and prints seconds, alerts queued and its peak RSS.
Targets: < 10 s and < 150 MB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from stores import shared_databases, store_name  # noqa: E402

from appliance.fakebank.ledger import FakeBankDB, iso, money  # noqa: E402

LIMITS = ("500.00", "1000.00", "2000.00", "5000.00")


def generate(db: FakeBankDB, agreements: int, movements: int, seed: int = 7) -> int:
    """Bulk-load customers, agreements, current accounts and movements; return alert-worthy."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=30)
    customers = [(f"C{i:06d}", f"Customer {i}", "private") for i in range(agreements)]
    prefixes = ("44", "45", "49", "43")
    agreement_rows = [
        (f"G{i:06d}", f"C{i:06d}", f"+383{prefixes[i % 4]}{i:06d}",
         json.dumps(["alerts", "balance", "topup"]), LIMITS[i % 4], ("sq", "en")[i % 2], 1)
        for i in range(agreements)
    ]
    balances = [Decimal(rng.randrange(100, 50_000)) for _ in range(agreements)]
    limits = [Decimal(LIMITS[i % 4]) for i in range(agreements)]
    movement_rows = []
    alert_worthy = 0
    for seq in range(1, movements + 1):
        acc = rng.randrange(agreements)
        # Log-uniform sizes: most movements are small, some reach the alert limits.
        amount = Decimal(round(10 ** rng.uniform(0, 4), 2)).quantize(Decimal("0.01"))
        if rng.random() < 0.6:
            amount = -amount
        balances[acc] += amount
        if abs(amount) >= limits[acc]:
            alert_worthy += 1
        booked = start + timedelta(seconds=seq * 20)
        movement_rows.append((seq, f"MV{seq:010d}", f"A{acc:06d}", money(amount), "card_payment",
                              iso(booked), money(balances[acc])))
    now = iso(datetime.now(UTC))
    accounts = [(f"A{i:06d}", f"C{i:06d}", "current", f"1110{i:012d}", "EUR",
                 money(balances[i]), now) for i in range(agreements)]
    changes = [("customer", c[0]) for c in customers]
    changes += [("agreement", a[0]) for a in agreement_rows]
    changes += [("account", a[0]) for a in accounts]
    changes += [("movement", m[1]) for m in movement_rows]
    db.execute_many("INSERT INTO customers VALUES (?, ?, ?)", customers)
    db.execute_many("INSERT INTO agreements (id, customer_id, phone, services, alert_limit,"
                    " language, active) VALUES (?, ?, ?, ?, ?, ?, ?)", agreement_rows)
    db.execute_many("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)", accounts)
    db.execute_many("INSERT INTO movements VALUES (?, ?, ?, ?, ?, ?, ?)", movement_rows)
    db.execute_many("INSERT INTO changes (entity, entity_id) VALUES (?, ?)", changes)
    db.mark_seeded("bench")
    return alert_worthy


def serve_bank(state_dir: Path, agreements: int, movements: int) -> None:
    """Child process: generate the ledger, serve it, print one JSON line, run until SIGTERM."""
    from appliance.fakebank.server import DB_NAME, FakeBankServer

    db = FakeBankDB(state_dir / DB_NAME)
    started = time.perf_counter()
    worthy = generate(db, agreements, movements)
    generated = time.perf_counter() - started
    db.close()
    server = FakeBankServer(state_dir).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(json.dumps({"url": server.url, "token_file": str(server.token_file),
                      "alert_worthy": worthy, "generate_seconds": generated}), flush=True)
    stop.wait()
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movements", type=int, default=100_000)
    parser.add_argument("--agreements", type=int, default=10_000)
    # Per page the sync pays a round trip and a commit: 2000 suits a large backlog (200,
    # the daemon's default for steady state, takes about twice as long here).
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="Where to put the databases (default: a temporary directory).")
    parser.add_argument("--postgres", action="store_true",
                        help="sync into a private PostgreSQL cluster instead of SQLite")
    parser.add_argument("--serve-bank", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bank is not None:
        serve_bank(args.serve_bank, args.agreements, args.movements)
        return 0

    from appliance.bank.client import BankClient
    from appliance.core.rules import Rules
    from appliance.flows.sync import sync_once
    from appliance.store.db import open_database
    from appliance.store.models import Movement, OutboxMessage

    with (tempfile.TemporaryDirectory(prefix="bench-sync-", dir=args.work_dir) as tmp,
          shared_databases(args.postgres) as fresh):
        tmp_path = Path(tmp)
        url = fresh("sync")
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve-bank", str(tmp_path / "bank"),
             "--movements", str(args.movements), "--agreements", str(args.agreements)],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert child.stdout is not None
            info = json.loads(child.stdout.readline())
            client = BankClient(info["url"], Path(info["token_file"]), read_timeout=60.0)
            db = open_database(url or tmp_path / "appliance.sqlite")
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            cpu_before = time.process_time()
            started = time.perf_counter()
            report = sync_once(client, Rules(), datetime.now(UTC), page_size=args.page_size,
                               alert_backlog=True)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_before
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            stored = Movement.select().count()
            alerts = OutboxMessage.select().where(OutboxMessage.kind == "alert").count()
            db.close()
            client.close()
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)

    table = Table(title=f"Bank sync into a fresh database ({store_name(url)})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("movements synced", f"{stored:,}", f"{args.movements:,}")
    table.add_row("agreements", f"{args.agreements:,}", "")
    table.add_row("page size / pages", f"{args.page_size} / {report.pages}", "")
    table.add_row("seconds", f"{seconds:.2f}", "< 10")
    table.add_row("CPU seconds of the syncing process", f"{cpu_seconds:.2f}", "")
    table.add_row("load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}", "")
    table.add_row("movements per second", f"{stored / seconds:,.0f}", "")
    table.add_row("alerts queued", f"{alerts:,}", f"{info['alert_worthy']:,}")
    table.add_row("peak RSS (MB)", f"{peak_mb:.0f} (before sync {rss_before:.0f})", "< 150")
    table.add_row("bank data generated in (s)", f"{info['generate_seconds']:.2f}", "")
    Console().print(table)
    ok = (stored == args.movements and alerts == info["alert_worthy"] and seconds < 10
          and peak_mb < 150)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
