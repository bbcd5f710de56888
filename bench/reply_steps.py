"""Where a customer's reply waits on a salary day, step by step (issue 14).

Reads a kept salary day (`bench/salary_day.py --keep DIR`): each B's arrival at its fake
modem (`asked.json`), the modems' command timelines (`timeline.json`) and the shared
SQLite file's timestamps, and prints the median and p99 of each step in model seconds:

    arrival -> read      the first +CMGL/+CMGR on that modem after the B reached it
    read -> stored       the inbound row committed (`received_at`)
    stored -> queued     decided, the reply queued (`outbox.created_at`)
    queued -> claimed    the reply's row claimed (`sending_at`)
    claimed -> sent      the modem accepted it (`sent_at`)

and how many other messages the reply's modem started between the reply's queueing and
its own send (0 is ideal; 1 is the send already on the radio).

    python bench/reply_steps.py DIR/day [--time-scale 0.25]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from appliance.store.fields import parse_utc_text


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("day", type=Path)
    ap.add_argument("--time-scale", type=float, default=0.25)
    args = ap.parse_args()
    scale = args.time_scale
    asked: dict[str, list[str]] = json.loads((args.day / "asked.json").read_text())
    timeline: dict[str, list[list[object]]] = json.loads(
        (args.day / "timeline.json").read_text())
    reads = {m: sorted(datetime.fromisoformat(str(at)) for at, cmd, _ in t
                       if str(cmd).startswith(("+CMGL", "+CMGR")))
             for m, t in timeline.items()}
    sends = {m: sorted(datetime.fromisoformat(str(at)) for at, cmd, _ in t
                       if cmd == "<message>") for m, t in timeline.items()}
    con = sqlite3.connect(args.day / "fleet.sqlite")
    steps: dict[str, list[float]] = {k: [] for k in (
        "arrival->read", "read->stored", "stored->queued", "queued->claimed",
        "claimed->sent", "arrival->sent")}
    ahead: list[int] = []
    other_modem = 0
    for number, (at_text, via) in asked.items():
        row = con.execute(
            "SELECT i.received_at, o.created_at, o.sending_at, o.sent_at, o.modem "
            "FROM inbound_message i JOIN outbox_message o ON o.inbound_id = i.id "
            "WHERE i.sender = ? ORDER BY o.id LIMIT 1", (number,)).fetchone()
        if row is None or row[3] is None:
            continue
        arrival = datetime.fromisoformat(at_text)
        stored, queued, claimed, sent = (parse_utc_text(str(v)) for v in row[:4])
        read = next((t for t in reads.get(via, []) if t >= arrival), stored)
        marks = [arrival, read, stored, queued, claimed, sent]
        for key, (a, b) in zip(list(steps)[:5], pairwise(marks), strict=True):
            steps[key].append((b - a).total_seconds() / scale)
        steps["arrival->sent"].append((sent - arrival).total_seconds() / scale)
        ahead.append(sum(1 for t in sends.get(str(row[4]), []) if queued <= t < claimed))
        other_modem += row[4] != via
    n = len(ahead)
    print(f"{n} replies (model seconds)")
    for key, values in steps.items():
        if values:
            print(f"  {key:16} p50 {statistics.median(values):6.2f}  p99 {pct(values, 99):6.2f}")
    if ahead:
        print(f"  sends started on the reply's modem between queued and claimed: "
              f"p50 {statistics.median(ahead):.0f}, p99 {pct([float(a) for a in ahead], 99):.0f}"
              f", max {max(ahead)}")
    print(f"  replies sent by a modem other than the one the B reached: {other_modem} of {n}")


if __name__ == "__main__":
    main()
