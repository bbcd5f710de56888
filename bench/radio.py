"""Radio efficiency (issue 17): what a user of a real modem pays, as one rich table.

The daemon runs as `appliance run` in a subprocess (as in bench_daemon.py) against the
fake modem with the realistic delay model, time-scaled (`--time-scale`: 0.05 makes a 3 s
send take 150 ms). A mixed burst, `--messages` `B` from as many numbers arriving
`--gap` model seconds apart while the replies go out, is measured from the fake modem's
own record of what it spent its time on (`FakeModemServer.timeline()`, model seconds):

- the share of modem time (first arrival to last reply accepted) spent in `+CMGS`;
- AT commands per inbound (by command, the deletes apart) and per reply;
- messages per second against the burst's physical limit: replies over the sum of their
  `+CMGS` transmission times (what a modem that never did anything else would reach);
- where the rest went: each command's modem time, and the modem's idle time by the two
  commands it fell between (the daemon's turnarounds: `<message> -> +CMGS` is one send's
  answer to the next send's command).

Run: .venv/bin/python bench/radio.py [--messages 200] [--time-scale 0.05] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_daemon import make_seed, phone, start_daemon, wait  # noqa: E402

from appliance.fakebank.server import FakeBankServer  # noqa: E402
from appliance.fakemodem.model import Busy, ModemConfig  # noqa: E402
from appliance.fakemodem.server import FakeModemServer  # noqa: E402

SEND = ("+CMGS", "<message>", "+CMMS")  # the send path: what a reply costs
DELETE = "+CMGD"
# The daemon reads one slot only for a status report the modem stored (+CDSI); the rest
# of a report's cost are the deletes beyond one per inbound (one slot, or all held
# reports at once: AT+CMGD=0,1); the listings that read them with the messages count
# as the inbound's.
REPORT = "+CMGR"
REPORTS = {"1": "routed (+CDS, +CNMA)", "2": "stored (+CDSI)", "0": "none"}
IDLE_ROWS = 5  # the largest idle gaps (between which two commands) the table shows


@dataclass
class Result:
    """One burst, measured in model seconds from the fake modem's timeline."""

    messages: int
    replies: int
    time_scale: float
    gap: float
    receive: str
    cmms: bool
    elapsed_s: float  # first arrival to the last reply's +CMGS answer
    cmgs_s: float  # +CMGS lines and their messages (the transmission)
    transmit_s: float  # the messages after `> ` alone: the physical limit's sum
    busy_s: float  # every command
    commands: dict[str, int] = field(default_factory=dict)  # per command name
    # per command name: model seconds the modem spent on it, and idle just before it
    busy_by: dict[str, float] = field(default_factory=dict)
    idle_before: dict[str, float] = field(default_factory=dict)
    # model seconds the modem was idle between one command and the next, per pair
    # ("<message> -> +CMGS": from a send's answer to the next send's command)
    idle_between: dict[str, float] = field(default_factory=dict)
    # +CNMA that acknowledged a status report (+CDS under +CSMS=1): the reply's, not
    # the inbound's
    report_acks: int = 0
    reports: str = ""  # +CNMI <ds> in force at the end: 1 routed (+CDS), 2 stored (+CDSI)

    @property
    def rate(self) -> float:
        return self.replies / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def limit(self) -> float:
        return self.replies / self.transmit_s if self.transmit_s else 0.0

    @property
    def cmgs_pct(self) -> float:
        return 100 * self.cmgs_s / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def busy_pct(self) -> float:
        return 100 * self.busy_s / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def inbound_commands(self) -> int:
        return sum(n for c, n in self.commands.items()
                   if c not in SEND and c not in (DELETE, REPORT)) - self.report_acks

    @property
    def report_deletes(self) -> int:
        # each stored inbound is deleted once, after its commit (a direct one is
        # acknowledged instead); the other deletes free reports
        inbound = self.messages if self.receive == "stored" else 0
        return max(0, self.commands.get(DELETE, 0) - inbound)

    @property
    def report_commands(self) -> int:
        return self.commands.get(REPORT, 0) + self.report_deletes

    @property
    def send_commands(self) -> int:
        # `<message>` is the second half of one AT+CMGS, not a command of its own
        return sum(n for c, n in self.commands.items()
                   if c in SEND and c != "<message>") + self.report_acks

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        for name in ("rate", "limit", "cmgs_pct", "busy_pct", "inbound_commands",
                     "send_commands", "report_commands"):
            data[name] = getattr(self, name)
        return data


def measure(timeline: list[Busy], t0: datetime, messages: int, time_scale: float,
            gap: float, receive: str = "stored", cmms: bool = True,
            report_acks: int = 0) -> Result:
    """Sum the timeline from the burst's first arrival `t0` to the last reply answered."""
    burst = [b for b in timeline if b.at >= t0]
    sends = [b for b in burst if b.command == "<message>"]
    if not sends:
        raise ValueError("no reply went out during the burst")
    last = sends[-1]
    end = last.at.timestamp() + last.seconds * time_scale
    burst = [b for b in burst if b.at <= last.at]
    busy_by: Counter[str] = Counter()
    idle_before: Counter[str] = Counter()
    idle_between: Counter[str] = Counter()
    free_at = t0.timestamp()  # when the modem was last done (real seconds)
    last = "(burst start)"
    for b in sorted(burst, key=lambda b: b.at):
        start = b.at.timestamp()
        idle = max(0.0, start - free_at) / time_scale
        idle_before[b.command] += idle
        if idle > 0:
            idle_between[f"{last} -> {b.command}"] += idle
        busy_by[b.command] += b.seconds
        free_at = max(free_at, start + b.seconds * time_scale)
        last = b.command
    return Result(
        messages=messages, replies=len(sends), time_scale=time_scale, gap=gap,
        receive=receive, cmms=cmms, report_acks=report_acks,
        elapsed_s=(end - t0.timestamp()) / time_scale,
        cmgs_s=sum(b.seconds for b in burst if b.command in ("+CMGS", "<message>")),
        transmit_s=sum(b.seconds for b in sends),
        busy_s=sum(b.seconds for b in burst),
        commands=dict(Counter(b.command for b in burst).most_common()),
        busy_by=dict(busy_by), idle_before=dict(idle_before),
        idle_between=dict(idle_between.most_common()))


def run(tmp: Path, messages: int, time_scale: float, gap: float, seed: int, *,
        cmms: bool = True, receive: str = "stored", routed_reports: bool = True) -> Result:
    """Start bank, fake modem and daemon; deliver the burst; measure it. `cmms` False:
    the modem refuses `AT+CMMS` (every send sets its relay link up); `receive` is the
    modem's `receive` key (stored, or direct: +CMT and +CNMA); `routed_reports` False:
    the modem refuses routed reports (+CNMI ds=1), so direct delivery stores them."""
    seed_file = tmp / "seed.yaml"
    make_seed(seed_file, messages)
    bank = FakeBankServer(tmp / "bank", seed=seed_file).start()
    link = tmp / "modem"
    modem = FakeModemServer(link, tmp / "fm", "realistic", seed=seed,
                            time_scale=time_scale, config=ModemConfig(cmms=cmms,
                                              routed_reports=routed_reports)).start()
    daemon = None
    try:
        daemon = start_daemon(tmp, "radio", bank, link, timeout=120,
                              modem_keys=f'receive = "{receive}"\n')
        if receive == "direct":
            wait(lambda: modem.status()["cnmi"][1] == 2, 30, "direct delivery set up")
        base = len(modem.interpreter.sent_parts)
        acks_before = modem.interpreter.acks["cds"]
        t0 = datetime.now(UTC)
        pause = threading.Event()
        for i in range(messages):
            modem.deliver(phone(i), "B")
            pause.wait(gap * time_scale)
        wait(lambda: len(modem.interpreter.sent_parts) - base >= messages,
             60 + messages * 10 * time_scale, "every reply", tick=0.02)
        acks = modem.interpreter.acks["cds"] - acks_before
        result = measure(modem.timeline(), t0, messages, time_scale, gap, receive, cmms,
                         acks)
        cnmi = modem.status()["cnmi"]
        result.reports = str(cnmi[3]) if isinstance(cnmi, list | tuple) else "?"
        return result
    finally:
        if daemon is not None:
            daemon.stop()
        modem.stop()
        bank.close()


def table(r: Result) -> Table:
    """The one table of the benchmark."""
    t = Table(title=f"radio efficiency: {r.messages} x B from {r.messages} numbers, "
                    f"{r.gap:g} s apart, realistic modem (time scale {r.time_scale:g}), "
                    f"receive {r.receive}, +CMMS {'on' if r.cmms else 'refused'}, "
                    f"status reports {REPORTS.get(r.reports, r.reports)}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("note")
    t.add_row("replies sent", f"{r.replies}", f"of {r.messages} inbound")
    t.add_row("elapsed (model time)", f"{r.elapsed_s:.1f} s", "first arrival to last reply")
    t.add_row("throughput", f"{r.rate:.3f} msg/s", "")
    t.add_row("physical limit", f"{r.limit:.3f} msg/s",
              f"replies / {r.transmit_s:.1f} s of +CMGS transmission")
    t.add_row("modem time in +CMGS", f"{r.cmgs_pct:.1f} %", f"{r.cmgs_s:.1f} s")
    t.add_row("modem busy (any command)", f"{r.busy_pct:.1f} %", f"{r.busy_s:.1f} s")
    idle = r.elapsed_s - r.busy_s
    real_ms = idle * r.time_scale * 1000 / r.replies if r.replies else 0.0
    t.add_row("modem idle", f"{idle:.1f} s",
              f"{real_ms:.0f} ms real per reply: the daemon's turnaround, magnified "
              f"{1 / r.time_scale:g}x by the time scale")
    inbound = r.inbound_commands / r.messages if r.messages else 0.0
    t.add_row("AT commands per inbound", f"{inbound:.2f}", "its delete apart")
    inbound_deletes = r.commands.get(DELETE, 0) - r.report_deletes
    deletes = inbound_deletes / r.messages if r.messages else 0.0
    t.add_row("  deletes per inbound", f"{deletes:.2f}", "")
    per_reply = r.send_commands / r.replies if r.replies else 0.0
    t.add_row("AT commands per reply", f"{per_reply:.2f}",
              f"its +CMGS; +CMMS; {r.report_acks} +CNMA of status reports"
              if r.report_acks else "its +CMGS; +CMMS")
    per_report = r.report_commands / r.replies if r.replies else 0.0
    t.add_row("AT commands per status report", f"{per_report:.2f}",
              "stored reports read alone, deletes of reports (within the burst)")
    for name, n in r.commands.items():
        share = 100 * r.busy_by.get(name, 0.0) / r.elapsed_s if r.elapsed_s else 0.0
        t.add_row(f"  {name}", f"{n}",
                  f"{r.busy_by.get(name, 0.0):.1f} s busy ({share:.1f} %), "
                  f"{r.idle_before.get(name, 0.0):.1f} s idle before it")
    for pair, idle in list(r.idle_between.items())[:IDLE_ROWS]:
        t.add_row(f"  idle {pair}", f"{idle:.2f} s",
                  f"{100 * idle / r.elapsed_s if r.elapsed_s else 0.0:.2f} % of the elapsed")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--time-scale", type=float, default=0.05)
    ap.add_argument("--gap", type=float, default=1.0,
                    help="model seconds between two arrivals (faster than replies go out)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--no-cmms", action="store_true",
                    help="the modem answers ERROR to AT+CMMS (no relay link kept)")
    ap.add_argument("--receive", choices=("stored", "direct"), default="stored",
                    help="how the daemon receives: stored (+CMTI, +CMGL, +CMGD) or "
                         "direct (+CMT, +CNMA)")
    ap.add_argument("--stored-reports", action="store_true",
                    help="the modem refuses routed status reports (+CNMI ds=1): direct "
                         "delivery falls back to stored ones (ds=2)")
    ap.add_argument("--json", action="store_true", help="also print the result as JSON")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this directory and keep it (logs, databases)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-radio-") as d:
        tmp = Path(d) if args.keep is None else args.keep
        tmp.mkdir(parents=True, exist_ok=True)
        result = run(tmp, args.messages, args.time_scale, args.gap, args.seed,
                     cmms=not args.no_cmms, receive=args.receive,
                     routed_reports=not args.stored_reports)
    Console(width=100).print(table(result))
    if args.json:
        print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()
