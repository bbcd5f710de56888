"""The campaign's judge (bench/campaign.py): every DESIGN §2 invariant counted from
outside, over the database's rows, the modems' records and the bank's ledger, and each
duplicate SMS put down to a cause from what the daemon(s) logged about its row. The same
judge serves one box and a fleet (bench/campaign_fleet.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from rich.table import Table


@dataclass
class Outcome:
    seed: int
    kills: int
    faults: int
    messages: int
    parts: int
    lost: int
    decided_twice: int
    double_debits: int
    alerts_missing: int
    alerts_doubled: int
    replies_missing: int
    duplicate_sms: int
    duplicates_per_kill: float
    drain_seconds: float
    # Each duplicate by what the daemon's log says happened to its row (`classify`).
    duplicate_causes: dict[str, int] = field(default_factory=dict)
    boxes: int = 1
    # Rows a running box took over from another whose lease ran out (a fleet's).
    handed_over: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.decided_twice or self.double_debits
                    or self.alerts_missing or self.alerts_doubled or self.replies_missing)



class Store(Protocol):
    """What the judge reads of the box(es): the database's rows and the daemons' logs."""

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...
    def log_text(self) -> str: ...



def _drained(daemon: Store, delivered: Counter[str], alerted: list[str]) -> bool:
    inbound = daemon.rows("SELECT COUNT(*) FROM inbound_message "
                          "WHERE state IN ('handled', 'ignored')")
    busy = daemon.rows("SELECT COUNT(*) FROM outbox_message WHERE state IN ('queued', 'sending')")
    orders = daemon.rows("SELECT COUNT(*) FROM topup_order WHERE state NOT IN "
                         "('done', 'rejected', 'failed')")
    alerts = daemon.rows("SELECT COUNT(*) FROM outbox_message WHERE kind = 'alert'")
    return bool(inbound and busy and orders and alerts) and (
        inbound[0][0] >= sum(delivered.values()) and busy[0][0] == 0 and orders[0][0] == 0
        and alerts[0][0] >= len(alerted))


def _judge(seed: int, kills: int, faults: int, sms: int, daemon: Store, modem: Any, bank: Any,
           delivered: Counter[str], alerted: list[str], drain: float,
           causes_of: Callable[[Store, Any], dict[str, int]] | None = None) -> Outcome:
    decided = Counter(str(r[0]) for r in daemon.rows(
        "SELECT sender FROM inbound_message WHERE state IN ('handled', 'ignored')"))
    lost = sum(max(0, n - decided[p]) for p, n in delivered.items())
    decided_twice = sum(max(0, decided[p] - n) for p, n in delivered.items())
    debits = bank.db.debit_count()
    done = daemon.rows("SELECT COUNT(*) FROM topup_order WHERE state = 'done'")[0][0]
    keys = [str(r[0]) for r in daemon.rows("SELECT idempotency_key FROM topup_order")]
    double_debits = max(0, debits - done) + sum(max(0, bank.db.debit_count(k) - 1) for k in keys)
    alert_rows = Counter(str(r[0]) for r in daemon.rows(
        "SELECT \"to\" FROM outbox_message WHERE kind = 'alert'"))
    alerts_missing = sum(1 for p in alerted if alert_rows[p] == 0)
    alerts_doubled = sum(max(0, alert_rows[p] - 1) for p in set(alerted))
    # What the modem submitted against what the box meant to send, recipient by recipient.
    meant = Counter(str(r[0]) for r in daemon.rows(
        "SELECT \"to\" FROM outbox_message WHERE state IN ('sent', 'delivered')"))
    given_up = daemon.rows("SELECT COUNT(*) FROM outbox_message WHERE state = 'failed'")[0][0]
    got = Counter(m.to for m in modem.sent())
    duplicates = sum(max(0, got[p] - meant[p]) for p in got)
    replies_missing = given_up + sum(max(0, meant[p] - got[p]) for p in meant)
    causes = (causes_of or classify)(daemon, modem) if duplicates else {}
    return Outcome(seed, kills, faults, sms, sum(delivered.values()), lost, decided_twice,
                   double_debits, alerts_missing, alerts_doubled, replies_missing, duplicates,
                   round(duplicates / kills, 3) if kills else 0.0, round(drain, 1), causes)


# What the daemon logs about a row it resent, most telling first: the cause of a duplicate.
CAUSES: tuple[tuple[str, str], ...] = (
    ("no status report within the grace period", "killed after PDU, no report in grace"),
    ("was interrupted while sending: resending", "killed after PDU, resent at once"),
    ("was interrupted before its PDU was written", "killed before PDU (!)"),
    ("gone", "port vanished mid-send, retried"),
    ("no answer to AT+CMGS", "no answer to AT+CMGS, retried"),
    ("no '> ' prompt", "no prompt, retried"),
    ("failed (", "send error, retried"),
)


class _Submitted(Protocol):
    @property
    def to(self) -> str: ...
    @property
    def text(self) -> str: ...


class _Witness(Protocol):
    """What `classify` reads of the fake modem: what it was asked to submit."""

    def sent(self) -> Sequence[_Submitted]: ...


def classify(daemon: Store, modem: _Witness,
             refine: Callable[[tuple[str, str], str], str] | None = None) -> dict[str, int]:
    """Each duplicate SMS by cause: the row whose text went out more often than it was
    meant to, and the most telling line the daemon logged about that row (`refine`, given
    the (recipient, text) and that cause, may name it more closely)."""
    meant = Counter((str(r[0]), str(r[1])) for r in daemon.rows(
        "SELECT \"to\", text FROM outbox_message WHERE state IN ('sent', 'delivered')"))
    ids: dict[tuple[str, str], list[int]] = {}
    for row_id, to, text in daemon.rows("SELECT id, \"to\", text FROM outbox_message"):
        ids.setdefault((str(to), str(text)), []).append(int(row_id))
    got = Counter((m.to, m.text) for m in modem.sent())
    log = daemon.log_text().splitlines()
    causes: Counter[str] = Counter()
    for key, n in got.items():
        extra = n - meant[key]
        if extra <= 0:
            continue
        marks = tuple(f"outbox {i} " for i in ids.get(key, []))
        lines = [line for line in log if any(m in line for m in marks)]
        cause = next((name for needle, name in CAUSES
                      if any(needle in line for line in lines)), "no log line (?)")
        causes[refine(key, cause) if refine is not None else cause] += extra
    return dict(causes)


def table(outcomes: list[Outcome]) -> Table:
    t = Table(title="crash-and-fault campaign (DESIGN §2 invariants checked from outside)")
    cols = ("seed", "kills", "faults", "messages", "parts", "lost", "decided twice",
            "double debits", "alerts missing", "alerts doubled", "replies missing", "duplicate SMS",
            "dup/kill", "drain s")
    for c in cols:
        t.add_column(c, justify="right")
    for o in outcomes:
        t.add_row(*(str(v) for v in astuple_outcome(o)))
    return t


def astuple_outcome(o: Outcome) -> tuple[Any, ...]:
    return tuple(v for k, v in asdict(o).items()
                 if k not in ("duplicate_causes", "boxes", "handed_over"))
