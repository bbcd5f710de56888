"""The daemon side by side with its peers (DESIGN §9, issue 14): one rich table.

Three systems answer a customer's `B`, each on its own fresh fake modem started the same
way (`appliance fake-modem serve --modem-delay D --time-scale X --seed S`), so every one
meets the same seeded delays:

- **appliance**: `appliance run` (a subprocess), on the fake bank seeded with the customers;
- **gammu-smsd** (files backend) with a `RunOnReceive` script that answers like our `B`;
- **smstools3** (`smsd`) with an `eventhandler` that does the same.

The peers' reply script looks the sender's balance up in a JSON file written from the
same seed and answers with the text our daemon would send (same length, same encoding),
so all three put the same bytes on the radio. Each peer polls the modem as often as its
configuration allows short of a busy loop (gammu: `LoopSleep`, `CommTimeout`,
`ReceiveFrequency` = 1 s; smstools3: `delaytime` = 1 s); the daemon reacts to `+CMTI`.

The peers poll on a real-time clock (seconds), which a time scale below 1 does not shrink:
compare the peers under realistic delays at `--time-scale 1` (the default).

Measured for each: latency of `--latency` single `B`s, one at a time (the network handing
the message to the modem until the modem accepted the reply, `AT+CMGS` answered), p50 and
p99, in real milliseconds; throughput of a burst of `--burst` `B`s from as many numbers
(replies per second from the first delivery to the last reply). Ratios are against the
daemon. Missing Debian packages (gammu, gammu-smsd, smstools) are installed with apt-get.

Run: .venv/bin/python bench/peer.py [--latency 20] [--burst 50]
     [--modem-delay realistic|none] [--time-scale 1] [--seed 14] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_daemon import make_seed, pct, phone, start_daemon, wait  # noqa: E402

from appliance.core.money import format_money  # noqa: E402
from appliance.fakebank.server import FakeBankServer  # noqa: E402
from appliance.fakemodem.control import ControlClient, FakeModemNotRunning  # noqa: E402

SYSTEMS = ("appliance", "gammu-smsd", "smstools3")
# command -> Debian package, for what the peers need
PACKAGES = {"gammu": "gammu", "gammu-smsd": "gammu-smsd", "gammu-smsd-inject": "gammu-smsd",
            "smsd": "smstools"}
CLI = [sys.executable, "-c", "from appliance.cli import main; main()"]


@dataclass
class Result:
    """One system's run: latencies (real ms) and one burst."""

    system: str
    latencies_ms: list[float] = field(default_factory=list)
    burst: int = 0
    burst_s: float = 0.0
    replies: int = 0
    texts: dict[str, str] = field(default_factory=dict)  # number -> the reply it got

    @property
    def p50(self) -> float:
        return pct(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return pct(self.latencies_ms, 99)

    @property
    def rate(self) -> float:
        return self.burst / self.burst_s if self.burst_s else 0.0

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        data.update(p50_ms=self.p50, p99_ms=self.p99, rate=self.rate)
        return data


def ensure_packages() -> None:
    """apt-get install what the peers need, when a command is missing."""
    need = sorted({pkg for cmd, pkg in PACKAGES.items() if shutil.which(cmd) is None})
    if not need:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing Debian packages: {' '.join(need)}", file=sys.stderr)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *need], check=True, env=env,
                   stdout=subprocess.DEVNULL)


# --- the fake modem, as a program -------------------------------------------------------

@contextlib.contextmanager
def fake_modem(tmp: Path, delay: str, time_scale: float, seed: int) -> Iterator[ControlClient]:
    """`appliance fake-modem serve` in a subprocess; yields its control client."""
    link, state = tmp / "modem", tmp / "fm"
    log = (tmp / "fakemodem.log").open("ab")
    proc = subprocess.Popen(
        [*CLI, "fake-modem", "serve", "--link", str(link), "--state-dir", str(state),
         "--modem-delay", delay, "--time-scale", f"{time_scale:g}", "--seed", str(seed)],
        stdout=log, stderr=log)
    log.close()
    client = ControlClient(state)

    def up() -> bool:
        with contextlib.suppress(FakeModemNotRunning, OSError):
            client.ping()
            return link.exists()
        return False

    try:
        wait(up, 30, "the fake modem", tick=0.05)
        yield client
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- the peers --------------------------------------------------------------------------

def balance_texts(seed: Path) -> dict[str, str]:
    """A `B` answer for each seeded phone, in our daemon's form; replaced by the very texts
    the daemon sent once it has run (so the peers transmit the same bytes)."""
    data = yaml.safe_load(seed.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for c in data["customers"]:
        acc = c["accounts"][0]
        amount = format_money(Decimal(acc["opening_balance"]), acc["currency"])
        for g in c["agreements"]:
            out[g["phone"].lstrip("+")] = f"Bilanci: Rrjedhese ***{acc['number'][-4:]}: {amount}"
    return out


REPLY_PY = """\
import json, os, subprocess, sys
texts = json.load(open({texts!r}, encoding="utf-8"))
def answer(number):
    return texts.get(number.lstrip("+"), "Numri nuk njihet")
"""

GAMMU_REPLY = REPLY_PY + """\
number = os.environ.get("SMS_1_NUMBER", "")
subprocess.run(["gammu-smsd-inject", "-c", {rc!r}, "TEXT", number, "-text", answer(number)],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
"""

SMSTOOLS_REPLY = REPLY_PY + """\
if sys.argv[1] != "RECEIVED":
    sys.exit(0)
head = open(sys.argv[2], encoding="latin-1").read().split("\\n\\n", 1)[0]
number = next(l[6:].strip() for l in head.splitlines() if l.startswith("From: "))
name = os.path.basename(sys.argv[2])
tmp = os.path.join({outgoing!r}, "." + name)
with open(tmp, "w", encoding="utf-8") as f:
    f.write("To: " + number + "\\n\\n" + answer(number) + "\\n")
os.rename(tmp, os.path.join({outgoing!r}, "reply-" + name))
"""


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable} -I\n{body}", encoding="utf-8")
    path.chmod(0o755)
    return path


def start_gammu(tmp: Path, texts: Path) -> subprocess.Popen[bytes]:
    rc = tmp / "smsdrc"
    dirs = {k: tmp / k for k in ("inbox", "outbox", "sent", "error")}
    for d in dirs.values():
        d.mkdir()
    script = _script(tmp / "reply.py", GAMMU_REPLY.format(texts=str(texts), rc=str(rc)))
    rc.write_text(f"""\
[gammu]
device = {tmp / "modem"}
connection = at
[smsd]
service = files
inboxpath = {dirs["inbox"]}/
outboxpath = {dirs["outbox"]}/
sentsmspath = {dirs["sent"]}/
errorsmspath = {dirs["error"]}/
RunOnReceive = {script}
logfile = {tmp / "gammu-smsd.log"}
debuglevel = 0
LoopSleep = 1
CommTimeout = 1
ReceiveFrequency = 1
StatusFrequency = 0
CheckSecurity = 0
CheckBattery = 0
CheckSignal = 0
""", encoding="utf-8")
    log = (tmp / "gammu-smsd.out").open("ab")
    proc = subprocess.Popen(["gammu-smsd", "-c", str(rc)], stdout=log, stderr=log,
                            start_new_session=True)
    log.close()
    return proc


def start_smstools(tmp: Path, texts: Path) -> subprocess.Popen[bytes]:
    conf = tmp / "smsd.conf"
    dirs = {k: tmp / k for k in ("outgoing", "checked", "incoming", "failed", "sent")}
    for d in dirs.values():
        d.mkdir()
    script = _script(tmp / "handler.py",
                     SMSTOOLS_REPLY.format(texts=str(texts), outgoing=str(dirs["outgoing"])))
    conf.write_text(f"""\
devices = GSM1
outgoing = {dirs["outgoing"]}
checked = {dirs["checked"]}
incoming = {dirs["incoming"]}
failed = {dirs["failed"]}
sent = {dirs["sent"]}
logfile = {tmp / "smsd.log"}
infofile = {tmp / "smsd.working"}
pidfile = {tmp / "smsd.pid"}
loglevel = 5
eventhandler = {script}
delaytime = 1
delaytime_mainprocess = 1
receive_before_send = no

[GSM1]
device = {tmp / "modem"}
incoming = yes
baudrate = 115200
rtscts = no
""", encoding="utf-8")
    log = (tmp / "smsd.out").open("ab")
    proc = subprocess.Popen(["smsd", "-c", str(conf), "-t"], stdout=log, stderr=log,
                            start_new_session=True)
    log.close()
    return proc


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the peer's own process group (its children too), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# --- measuring --------------------------------------------------------------------------

def _sent(modem: ControlClient) -> list[dict[str, object]]:
    return list(modem.sent_json())


def _reply_to(modem: ControlClient, number: str, after: int) -> dict[str, object] | None:
    digits = number.lstrip("+")
    for row in _sent(modem)[after:]:
        if str(row["to"]).lstrip("+") == digits:
            return row
    return None


def measure(modem: ControlClient, result: Result, first: int, latency: int, burst: int,
            timeout: float) -> None:
    """Warm up, then the single messages one at a time, then the burst."""
    pause = threading.Event()
    n = len(_sent(modem))
    modem.deliver(phone(first), "B")  # warm-up: the system is up and answering
    wait(lambda: _reply_to(modem, phone(first), n), timeout * 3, f"{result.system} warm-up")
    for i in range(first + 1, first + 1 + latency):
        # A service-centre timestamp has one-second resolution: a fresh number each time
        # keeps every message distinct for every system's duplicate check.
        n = len(_sent(modem))
        t0 = datetime.now(UTC)
        modem.deliver(phone(i), "B")
        row = wait(lambda i=i, n=n: _reply_to(modem, phone(i), n), timeout,
                   f"{result.system} reply {i}", tick=0.01)
        at = datetime.fromisoformat(str(row["at"]))
        result.latencies_ms.append((at - t0).total_seconds() * 1000)
    pause.wait(1.1)
    base = len(_sent(modem))
    numbers = [phone(i) for i in range(first + 1 + latency, first + 1 + latency + burst)]
    t0 = datetime.now(UTC)
    for number in numbers:
        modem.deliver(number, "B")
    wait(lambda: len(_sent(modem)) - base >= burst, timeout * burst, f"{result.system} burst",
         tick=0.05)
    rows = _sent(modem)[base:]
    result.burst = burst
    result.replies = sum(1 for r in rows if str(r["to"]).lstrip("+") in
                         {x.lstrip("+") for x in numbers})
    last = max(datetime.fromisoformat(str(r["at"])) for r in rows)
    result.burst_s = (last - t0).total_seconds()
    result.texts = {str(r["to"]).lstrip("+"): str(r["text"]) for r in _sent(modem)}


def run_system(system: str, tmp: Path, args: argparse.Namespace, seed: Path,
               texts: Path) -> Result:
    tmp.mkdir(parents=True)
    result = Result(system)
    per_reply = 30 + 10 * args.time_scale if args.modem_delay == "realistic" else 30
    with fake_modem(tmp, args.modem_delay, args.time_scale, args.seed) as modem:
        if system == "appliance":
            bank = FakeBankServer(tmp / "bank", seed=seed).start()
            daemon = None
            try:
                daemon = start_daemon(tmp, "appliance", bank, tmp / "modem", timeout=60)
                measure(modem, result, 0, args.latency, args.burst, per_reply)
            finally:
                if daemon is not None:
                    daemon.stop()
                bank.close()
        else:
            start = start_gammu if system == "gammu-smsd" else start_smstools
            proc = start(tmp, texts)
            try:
                measure(modem, result, 0, args.latency, args.burst, per_reply)
            finally:
                stop_group(proc)
    return result


def table(results: list[Result], args: argparse.Namespace) -> Table:
    """The one table: each system's latency and throughput, and its ratio to the daemon."""
    ours = results[0]
    scale = "" if args.modem_delay == "none" else f", time scale {args.time_scale:g}"
    t = Table(title=f"peers on the same fake modem ({args.modem_delay} delays{scale}, "
                    f"seed {args.seed}): {args.latency} x B one at a time, "
                    f"a burst of {args.burst}")
    for name in ("system", "latency p50", "latency p99", "burst throughput",
                 "p50 / ours", "p99 / ours", "ours / its throughput"):
        t.add_column(name, justify="left" if name == "system" else "right")
    for r in results:
        t.add_row(r.system, f"{r.p50:.0f} ms", f"{r.p99:.0f} ms", f"{r.rate:.2f} msg/s",
                  f"{r.p50 / ours.p50:.1f}x" if ours.p50 else "-",
                  f"{r.p99 / ours.p99:.1f}x" if ours.p99 else "-",
                  f"{ours.rate / r.rate:.1f}x" if r.rate else "-")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=int, default=20, help="single messages, one at a time")
    ap.add_argument("--burst", type=int, default=50, help="messages in the burst")
    ap.add_argument("--modem-delay", choices=("none", "realistic"), default="realistic")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help=f"comma-separated, from {', '.join(SYSTEMS)} (the daemon, when "
                         "listed, runs first and is the ratios' base)")
    ap.add_argument("--json", action="store_true", help="also print the results as JSON")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this directory and keep it (logs, configurations)")
    args = ap.parse_args()
    systems = [s for s in SYSTEMS if s in args.systems.split(",")]  # the daemon first
    if not systems or any(s not in SYSTEMS for s in args.systems.split(",")):
        print(f"--systems: expected names from {', '.join(SYSTEMS)}, got {args.systems!r}",
              file=sys.stderr)
        sys.exit(2)
    ensure_packages()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as d:
        tmp = Path(d) if args.keep is None else args.keep
        tmp.mkdir(parents=True, exist_ok=True)
        seed = tmp / "seed.yaml"
        make_seed(seed, 1 + args.latency + args.burst)
        texts = tmp / "balances.json"
        answers = balance_texts(seed)
        texts.write_text(json.dumps(answers), encoding="utf-8")
        for system in systems:
            print(f"{system}: {args.latency} single, a burst of {args.burst} …",
                  file=sys.stderr)
            started = time.monotonic()
            result = run_system(system, tmp / system, args, seed, texts)
            results.append(result)
            if system == "appliance":
                answers.update(result.texts)
                texts.write_text(json.dumps(answers), encoding="utf-8")
            print(f"  {time.monotonic() - started:.0f} s", file=sys.stderr)
    Console(width=140).print(table(results, args))
    if args.json:
        print(json.dumps([r.to_json() for r in results]))


if __name__ == "__main__":
    main()
