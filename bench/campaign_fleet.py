"""The crash campaign for a fleet (`bench/campaign.py --boxes N [--postgres]`, issue 16):
a box killed, not just a daemon.

N boxes, each an `appliance run` of its own with its own fake modem (its own SIM: IMSI
and number), share one database: one SQLite file, or with --postgres a private
PostgreSQL cluster (appliance/ops/pgcluster.py) under the run's directory, or the
database `url` a caller gives (the tests' server, tests/pg.py). The seeded schedule is
the single box's (`campaign.schedule`); a second stream drawn from the seed picks, for
each event, the box whose modem a customer writes to or a modem fault hits, and the box a
kill lands on. A killed box's modem keeps running (what customers send it waits there),
but its daemon comes back only after a seeded delay of up to 2 leases: often longer
than its claims' lease, so another box must take over its claimed and queued rows. The
kills are spread (`default_span`) so that each box is down about a third of the time.

The judge is the single box's (`campaign._judge`) over the shared database, every box's
modem's record and the one bank ledger. A duplicate whose text went out through two
boxes' modems is put down to its own cause: a box that stayed dead past the sending grace
with its PDU written, whose row another box then resent (the documented policy, DESIGN
§2 I5, docs/operations.md); the others are classified from the logs as for one box.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import campaign

from appliance.fakebank.server import FakeBankServer
from appliance.fakemodem.model import ModemConfig, SentMessage
from appliance.fakemodem.server import FakeModemServer
from appliance.ops import pgcluster
from appliance.store import open_database

INTERRUPTED = " was interrupted "
DOWN = (0.2, 2.0)  # a killed box's downtime: seeded, uniform, in leases (0.2 s at least)
# A kill at a random moment often finds its box idle, with nothing to take over: this
# share of the kills (seeded) waits a moment for the box to be mid-send, as a box dying
# under load would be.
AIM = 0.5
TAKEN_OVER = "box dead past the grace, resent by another box (policy)"
# A claim whose lease ran out while its box was alive but stuck (a modem command longer
# than the lease): another box sends the row, and the stuck one finishes its send too.
TWO_BOXES = "sent by two boxes: a live box's claim taken over (!)"


@dataclass
class Box:
    name: str
    modem: FakeModemServer
    daemon: campaign.Daemon


class Fleet:
    """The boxes as the judge sees them: one database, every modem, every log."""

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.boxes[0].daemon.rows(sql)

    def log_text(self) -> str:
        return "\n".join(b.daemon.log_text() for b in self.boxes)

    def handed_over(self) -> int:
        """Rows a running box took over from another whose lease ran out: those it says
        were interrupted after its own start-up (at start-up it sorts out its own)."""
        return sum(taken_over(b.daemon.log_text()) for b in self.boxes)

    def mid_send(self, box: str, within: float = 1.0) -> bool:
        """Wait (`within` s at most) until `box` holds a claim in 'sending'."""
        return campaign.wait(lambda: self.rows(
            f"SELECT 1 FROM outbox_message WHERE state = 'sending' AND box = '{box}'"),
            within, tick=0.005)

    def sent(self) -> list[SentMessage]:
        return [m for b in self.boxes for m in b.modem.sent()]

    def classify(self, store: campaign.Store, modem: Fleet) -> dict[str, int]:
        """`campaign.classify`; a text sent through two boxes' modems is a takeover past
        the grace when the log says the grace ran out, else two boxes sending one row."""
        through: dict[tuple[str, str], set[str]] = {}
        for b in self.boxes:
            for m in b.modem.sent():
                through.setdefault((m.to, m.text), set()).add(b.name)
        def refine(key: tuple[str, str], cause: str) -> str:
            if len(through.get(key, ())) < 2:
                return cause
            return TAKEN_OVER if cause == campaign.CAUSES[0][1] else TWO_BOXES

        return campaign.classify(store, modem, refine)


def taken_over(log: str) -> int:
    """In one box's log: 'was interrupted' lines between a 'daemon started' and the next
    start, i.e. not its own start-up's recovery but a takeover of another box's claims."""
    running = False
    n = 0
    for line in log.splitlines():
        if "metrics on http" in line:  # the first line of each start
            running = False
        elif "daemon started" in line:
            running = True
        elif running and INTERRUPTED in line:
            n += 1
    return n


def default_span(kills: int, boxes: int, lease: float) -> float:
    """Kills spread so that each box is down about a third of the run: closer together,
    every box is down at once much of the time, with no survivor to take over."""
    mean_down = (DOWN[0] + DOWN[1] * lease) / 2
    return max(5.0, 3 * kills * mean_down / boxes)


def _database(stack: contextlib.ExitStack, tmp: Path, postgres: bool, url: str | None) -> str:
    """The shared database, migrated once before any box starts: `url`, a private
    cluster's, or the SQLite file `tmp/appliance.sqlite`."""
    if url is None and postgres:
        pgcluster.let_owner_pass(tmp)
        cluster = pgcluster.start(tmp / "pg")
        stack.callback(cluster.stop, "immediate")
        url = cluster.url
    target = url or str(tmp / "appliance.sqlite")
    open_database(target).close()
    return target


def _box(stack: contextlib.ExitStack, tmp: Path, i: int, bank: FakeBankServer, database: str,
         delay: str, time_scale: float, seed: int, lease: float) -> Box:
    # A lease longer than any one send can take ([outbox] lease): a send is a few modem
    # commands, each up to the command timeout (a quarter lease), maybe behind another.
    name = f"box{i + 1}"
    home = tmp / name
    home.mkdir()
    url = database if database.startswith("postgresql://") else None
    if url is None:  # a link to the shared file: the box's own files stay beside it
        (home / "appliance.sqlite").symlink_to(database)
    sim = ModemConfig(imsi=f"22101{i + 1:010d}", own_number=f"+3834400{i + 1:04d}")
    link = tmp / f"modem-{name}"
    modem = campaign._modem(link, home / "fm", delay, time_scale, seed + i, name=name,
                            config=sim)
    stack.callback(modem.stop)
    daemon = campaign.Daemon(home, bank.url, bank.token_file, link, box=name, url=url,
                             lease=lease, modem=f"{name}-m1", command_timeout=lease / 4)
    stack.callback(daemon.kill)  # after the modem's stop in the stack: killed first
    return Box(name, modem, daemon)


class _Restarts:
    """Killed boxes and when each comes back; `until` waits, restarting those due."""

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes
        self.due: dict[int, float] = {}
        self._pause = threading.Event()

    def until(self, moment: float) -> None:
        while True:
            now = time.monotonic()
            for i, at in sorted(self.due.items()):
                if at <= now:
                    self.boxes[i].daemon.start()
                    del self.due[i]
            if now >= moment:
                return
            self._pause.wait(min(moment - now, 0.05))

    def kill(self, pick: int, down_for: float,
             aim: Callable[[str], object] | None = None) -> str:
        """SIGKILL box `pick`'s daemon, or the next one still running. The last box
        running is not killed: the kill waits for the next one due back, so that there
        is always a survivor to take over. `aim`: waited on (bounded) with the box's name."""
        n = len(self.boxes)
        if self.due and len(self.due) >= n - 1:
            self.until(min(self.due.values()))
        pick = next((pick + k) % n for k in range(n) if (pick + k) % n not in self.due)
        if aim is not None:
            aim(self.boxes[pick].name)
        self.boxes[pick].daemon.kill()
        self.due[pick] = time.monotonic() + down_for
        return self.boxes[pick].name


def run_fleet(seed: int, kills: int, messages: int, delay: str, time_scale: float,
              span: float, drain_timeout: float, *, boxes: int, postgres: bool, lease: float,
              aim: float = AIM, aim_wait: float = 1.0, keep: Path | None = None,
              url: str | None = None) -> campaign.Outcome:
    """One seeded fleet run; `url`: a migrated, empty PostgreSQL database to share; `aim`:
    the share of kills that wait (up to `aim_wait` s) for their box to be mid-send."""
    movements = max(4, messages // 4)
    events = campaign.schedule(seed, kills, messages, movements, span)
    # Drawn for every event whatever its kind, so that the picks are the seed's alone.
    rng = random.Random(f"fleet {seed} {boxes}")
    picks = [(rng.randrange(boxes), rng.uniform(DOWN[0], DOWN[1] * lease), rng.random() < aim)
             for _ in events]
    with contextlib.ExitStack() as stack:
        tmp = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-")))
        bank = campaign.start_bank(stack, tmp, seed, messages + movements)
        database = _database(stack, tmp, postgres, url)
        fleet = Fleet([_box(stack, tmp, i, bank, database, delay, time_scale, seed, lease)
                       for i in range(boxes)])
        for b in fleet.boxes:
            b.daemon.start()
        if not campaign.wait(lambda: fleet.rows("SELECT 1 FROM sync_state"), 60):
            raise SystemExit(f"campaign: no box ever synced; see {tmp}/box*/daemon.log")

        delivered: Counter[str] = Counter()
        alerted: list[str] = []
        sms = faults = 0
        restarts = _Restarts(fleet.boxes)
        t0 = time.monotonic()
        for ev, (pick, down_for, aimed) in zip(events, picks, strict=True):
            restarts.until(t0 + ev.at)
            box = fleet.boxes[pick]
            if ev.kind == "sms":
                delivered[campaign.phone(ev.who)] += len(
                    box.modem.deliver(campaign.phone(ev.who), ev.text))
                sms += 1
            elif ev.kind == "movement":
                bank.book_movement(f"A{ev.who:05d}", Decimal("-600.00"), "card_payment")
                alerted.append(campaign.phone(ev.who))
            elif ev.kind == "kill":
                restarts.kill(pick, down_for,
                              (lambda name: fleet.mid_send(name, aim_wait)) if aimed else None)
            elif ev.kind == "modem_fault":
                box.modem.fault(ev.fault, **ev.params)
                faults += 1
            elif ev.kind == "bank_fault":
                bank.set_fault(ev.fault, **ev.params)
                faults += 1
        for b in fleet.boxes:
            b.modem.reset_faults()
        bank.set_fault("none")
        restarts.until(max(restarts.due.values(), default=0.0))  # each comes back on time
        drain0 = time.monotonic()
        campaign.wait(lambda: campaign._drained(fleet, delivered, alerted), drain_timeout,
                      tick=0.25)
        drain = time.monotonic() - drain0
        outcome = campaign._judge(seed, kills, faults, sms, fleet, fleet, bank, delivered,
                                  alerted, drain, fleet.classify)
        return dataclasses.replace(outcome, boxes=boxes, handed_over=fleet.handed_over())
