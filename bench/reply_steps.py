"""Where a customer's reply waits on a salary day, step by step (issue 14).

Reads a kept salary day (`bench/salary_day.py --keep DIR`): each B's arrival at its fake
modem (`asked.json`), the modems' command timelines (`timeline.json`), the booking's time
(`t0` in `asked.json`'s companion `day.json`, when there) and the shared SQLite file's
timestamps, and prints the median and p99 of each step in model seconds:

    arrival -> read      the first +CMGL/+CMGR on that modem after the B reached it
    read -> stored       the inbound row committed (`received_at`)
    stored -> queued     decided, the reply queued (`outbox.created_at`)
    queued -> claimed    the reply's row claimed (`sending_at`)
    claimed -> sent      the modem accepted it (`sent_at`)

and, as `bench/salary_day.py` measures a reply's wait, arrival -> the reply's own +CMGS,
also with the daemon's time unscaled (`bench/slots.py`: the B's modem's commands until
the reply was queued and the reply's modem's from then as radio time, the rest real),

and how many other messages the reply's modem started between the reply's queueing and
its own send (0 is ideal; 1 is the send already on the radio).

`--slow N` lists the N slowest replies with each step's time (real seconds after the B
reached its modem, and model seconds) and every command the B's modem ran between the B's
arrival and its read, with its model duration: a gap with no command in it is time the
daemon spent elsewhere (real time, which the time scale magnifies), a command is radio
time.

    python bench/reply_steps.py DIR/day [--time-scale 0.25] [--slow 5]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import slots

from appliance.store.fields import parse_utc_text

STEPS = ("arrival->read", "read->stored", "stored->queued", "queued->claimed",
         "claimed->sent")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Reply:
    """One B and its reply: the step marks (arrival, read, stored, queued, claimed, sent)."""

    number: str
    via: str  # the modem the B reached
    modem: str  # the modem that sent the reply
    marks: list[datetime]

    def wait(self, scale: float) -> float:
        return (self.marks[-1] - self.marks[0]).total_seconds() / scale


def load(day: Path) -> tuple[list[Reply], dict[str, list[tuple[datetime, str, float]]]]:
    """Every answered B's marks, and each modem's timeline (at, command, model seconds)."""
    asked: dict[str, list[str]] = json.loads((day / "asked.json").read_text())
    raw: dict[str, list[list[object]]] = json.loads((day / "timeline.json").read_text())
    timeline = {m: [(datetime.fromisoformat(str(at)), str(cmd), float(str(s)))
                    for at, cmd, s in t] for m, t in raw.items()}
    reads = {m: [at for at, cmd, _ in t if cmd.startswith(("+CMGL", "+CMGR"))]
             for m, t in timeline.items()}
    con = sqlite3.connect(day / "fleet.sqlite")
    out: list[Reply] = []
    for number, (at_text, via) in asked.items():
        row = con.execute(
            "SELECT i.received_at, o.created_at, o.sending_at, o.sent_at, o.modem "
            "FROM inbound_message i JOIN outbox_message o ON o.inbound_id = i.id "
            "WHERE i.sender = ? ORDER BY o.id LIMIT 1", (number,)).fetchone()
        if row is None or row[3] is None:
            continue
        arrival = datetime.fromisoformat(at_text)
        stored, queued, claimed, sent = (parse_utc_text(str(v)) for v in row[:4])
        read = next((t for t in sorted(reads.get(via, [])) if t >= arrival), stored)
        out.append(Reply(number, via, str(row[4]), [arrival, read, stored, queued, claimed,
                                                     sent]))
    con.close()
    return out, timeline


@dataclass(frozen=True)
class _Cmd:
    at: datetime
    command: str
    seconds: float


def to_cmgs(r: Reply, timeline: dict[str, list[tuple[datetime, str, float]]],
            scale: float) -> tuple[float, float]:
    """Arrival to the reply's own +CMGS (the last one its modem started before `sent_at`),
    as `bench/salary_day.py` measures it: raw, and with the daemon's time unscaled."""
    via = [_Cmd(*c) for c in timeline.get(r.via, [])]
    mine = [_Cmd(*c) for c in timeline.get(r.modem, [])]
    arrival, _, _, queued, _, sent = (m.timestamp() for m in r.marks)
    end = max((c.at.timestamp() for c in mine
               if c.command == "<message>" and c.at.timestamp() <= sent), default=sent)
    at = min(max(arrival, queued), end)
    return ((end - arrival) / scale,
            slots.unscaled_wait(arrival, at, end, via, mine, scale))


def summary(replies: list[Reply], timeline: dict[str, list[tuple[datetime, str, float]]],
            scale: float) -> None:
    steps: dict[str, list[float]] = {k: [] for k in (*STEPS, "arrival->sent",
                                                     "arrival->+CMGS", "  daemon unscaled")}
    ahead: list[int] = []
    for r in replies:
        for key, (a, b) in zip(STEPS, pairwise(r.marks), strict=True):
            steps[key].append((b - a).total_seconds() / scale)
        steps["arrival->sent"].append(r.wait(scale))
        raw, unscaled = to_cmgs(r, timeline, scale)
        steps["arrival->+CMGS"].append(raw)
        steps["  daemon unscaled"].append(unscaled)
        queued, claimed = r.marks[3], r.marks[4]
        ahead.append(sum(1 for at, cmd, _ in timeline.get(r.modem, [])
                         if cmd == "<message>" and queued <= at < claimed))
    n = len(replies)
    print(f"{n} replies (model seconds)")
    for key, values in steps.items():
        if values:
            print(f"  {key:16} p50 {statistics.median(values):6.2f}  p99 {pct(values, 99):6.2f}")
    if ahead:
        print(f"  sends started on the reply's modem between queued and claimed: "
              f"p50 {statistics.median(ahead):.0f}, p99 {pct([float(a) for a in ahead], 99):.0f}"
              f", max {max(ahead)}")
    other = sum(1 for r in replies if r.modem != r.via)
    print(f"  replies sent by a modem other than the one the B reached: {other} of {n}")


def slowest(replies: list[Reply], timeline: dict[str, list[tuple[datetime, str, float]]],
            scale: float, n: int, t0: datetime | None) -> None:
    for r in sorted(replies, key=lambda r: -r.wait(scale))[:n]:
        arrival = r.marks[0]
        since = f", {(arrival - t0).total_seconds():.2f} s real after the booking" if t0 else ""
        print(f"\n{r.number}: {r.wait(scale):.1f} model s; the B reached {r.via}{since}; "
              f"the reply left via {r.modem}")
        for name, mark in zip(("arrival", "read", "stored", "queued", "claimed", "sent"),
                              r.marks, strict=True):
            off = (mark - arrival).total_seconds()
            print(f"  {name:8} +{off:7.3f} s real  +{off / scale:7.2f} model s")
        print(f"  {r.via}'s commands from the arrival to the read (real offset, model s):")
        for at, cmd, seconds in timeline.get(r.via, []):
            if arrival <= at <= r.marks[1]:
                print(f"    +{(at - arrival).total_seconds():7.3f}  {cmd:12} {seconds:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("day", type=Path)
    ap.add_argument("--time-scale", type=float, default=0.25)
    ap.add_argument("--slow", type=int, default=0, help="list the N slowest replies' steps")
    args = ap.parse_args()
    replies, timeline = load(args.day)
    summary(replies, timeline, args.time_scale)
    if args.slow:
        meta = args.day / "day.json"
        t0 = (datetime.fromisoformat(json.loads(meta.read_text())["t0"]) if meta.exists()
              else None)
        slowest(replies, timeline, args.time_scale, args.slow, t0)


if __name__ == "__main__":
    main()
