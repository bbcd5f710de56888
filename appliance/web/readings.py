"""What the metrics and the status page show, read from the store and the health snapshot.

Read-only: plain SELECTs on the bound database (the daemon's own, when the server runs in
the daemon) and a read of the snapshot file. Nothing here writes. Phone numbers and
error texts are masked here, once, for both the page and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import peewee

from appliance.core.masking import mask_text
from appliance.ops.snapshot import ModemFacts, pid_alive, read_snapshot, snapshot_path
from appliance.store.models import (
    INBOUND_STATES,
    OUTBOX_STATES,
    PRIORITY_ALERT,
    PRIORITY_REPLY,
    PRIORITY_TOPUP_RESULT,
    TOPUP_STATES,
    InboundMessage,
    OutboxMessage,
    TopupOrder,
)
from appliance.store.queries import (
    counts_for_status,
    last_sync_at,
    modem_records,
    oldest_inbound_at,
)

PRIORITY_NAMES = {PRIORITY_REPLY: "reply", PRIORITY_TOPUP_RESULT: "topup_result",
                  PRIORITY_ALERT: "alert"}
INBOUND_PENDING = ("stored", "waiting_parts")
# A snapshot older than this means the daemon stopped checking its modems.
SNAPSHOT_FRESH_SECONDS = 300
RECENT = 10


def priority_name(priority: int) -> str:
    return PRIORITY_NAMES.get(priority, str(priority))


@dataclass(frozen=True)
class ModemReading:
    name: str
    up: bool
    signal_dbm: int | None
    registration: str | None
    operator: str | None
    storage_used: int | None
    storage_total: int | None
    checked_at: datetime | None
    last_seen: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class HourTraffic:
    start: datetime  # UTC, on the hour
    received: int
    sent: int


@dataclass(frozen=True)
class TopupReading:
    created_at: datetime
    operator: str
    target: str  # masked
    amount: Decimal
    state: str
    reason: str | None


@dataclass(frozen=True)
class ErrorReading:
    at: datetime
    source: str
    text: str  # masked


@dataclass(frozen=True)
class Readings:
    now: datetime
    outbox: dict[str, int]
    outbox_due: int
    queued_by_priority: dict[str, int]
    oldest_queued_seconds: float | None
    inbound: dict[str, int]
    oldest_pending_seconds: float | None
    last_received_at: datetime | None
    last_sync: datetime | None
    topup_orders: dict[str, int]
    daemon_running: bool
    snapshot_age_seconds: float | None
    modems: list[ModemReading] = field(default_factory=list)
    traffic: list[HourTraffic] = field(default_factory=list)
    topups: list[TopupReading] = field(default_factory=list)
    errors: list[ErrorReading] = field(default_factory=list)

    @property
    def sync_age_seconds(self) -> float | None:
        return None if self.last_sync is None else max(0.0, (self.now - self.last_sync)
                                                       .total_seconds())


def _time(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return InboundMessage.received_at.python_value(value)


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def hourly_traffic(now: datetime, hours: int = 24) -> list[HourTraffic]:
    """Messages received and sent per UTC hour, the last `hours` hours (current one last)."""
    first = _hour(now) - timedelta(hours=hours - 1)
    buckets = {first + timedelta(hours=i): [0, 0] for i in range(hours)}
    # The stored text is fixed-width UTC ('2026-11-27 12:00:00.000000'): its first 13
    # characters are the hour, so the database groups without parsing every row.
    for column, slot, where in (
        (InboundMessage.received_at, 0, InboundMessage.received_at >= first),
        (OutboxMessage.sent_at, 1, OutboxMessage.sent_at.is_null(False)
         & (OutboxMessage.sent_at >= first)),
    ):
        # Raw text, not the field's type; literal bounds, not parameters: PostgreSQL groups
        # only by an expression the same as the selected one, and $1 is not $3 to it.
        hour = peewee.fn.SUBSTR(column, peewee.SQL("1"), peewee.SQL("13")).coerce(False)
        query = (column.model.select(hour.alias("h"), peewee.fn.COUNT(peewee.SQL("*"))
                                     .alias("n")).where(where).group_by(hour))
        for row in query.dicts():
            start = datetime.strptime(str(row["h"]), "%Y-%m-%d %H").replace(tzinfo=now.tzinfo)
            if start in buckets:
                buckets[start][slot] += int(row["n"])
    return [HourTraffic(start, r, s) for start, (r, s) in sorted(buckets.items())]


def _modems(names: list[str], facts: dict[str, ModemFacts], fresh: bool) -> list[ModemReading]:
    records = modem_records()
    out = []
    for name in names or sorted(set(records) | set(facts)):
        f = facts.get(name) if fresh else None
        record = records.get(name)
        out.append(ModemReading(
            name=name,
            up=bool(f is not None and f.healthy),
            signal_dbm=None if f is None else f.signal_dbm,
            registration=None if f is None else f.registration,
            operator=None if f is None else f.operator,
            storage_used=None if f is None else f.storage_used,
            storage_total=None if f is None else f.storage_total,
            checked_at=None if f is None else f.checked_at,
            last_seen=None if record is None else _time(record.last_seen),
            last_error=None if f is None or not f.last_error else mask_text(f.last_error),
        ))
    return out


def _topups() -> list[TopupReading]:
    rows = TopupOrder.select().order_by(TopupOrder.created_at.desc()).limit(RECENT)
    return [TopupReading(r.created_at, str(r.operator), mask_text(str(r.target)),
                         r.amount, str(r.state),
                         None if r.reason is None else mask_text(str(r.reason)))
            for r in rows]


def _errors(modems: list[ModemReading]) -> list[ErrorReading]:
    out = [ErrorReading(m.checked_at, f"modem {m.name}", m.last_error)
           for m in modems if m.last_error and m.checked_at is not None]
    rows = (OutboxMessage.select(OutboxMessage.created_at, OutboxMessage.sending_at,
                                 OutboxMessage.kind, OutboxMessage.state,
                                 OutboxMessage.last_error)
            .where(OutboxMessage.last_error.is_null(False))
            .order_by(OutboxMessage.created_at.desc()).limit(RECENT))
    out += [ErrorReading(r.sending_at or r.created_at, f"{r.kind} ({r.state})",
                         mask_text(str(r.last_error))) for r in rows]
    failed = (TopupOrder.select().where(TopupOrder.state == "failed")
              .order_by(TopupOrder.updated_at.desc()).limit(RECENT))
    out += [ErrorReading(r.updated_at, "top-up failed", mask_text(str(r.reason or "-")))
            for r in failed]
    return sorted(out, key=lambda e: e.at, reverse=True)[:RECENT]


def read(db_path: Path, now: datetime, modem_names: list[str] | None = None) -> Readings:
    """Everything the page and the metrics show, at `now` (the bound database must be open)."""
    counts = counts_for_status(now)
    queued = (OutboxMessage.select(OutboxMessage.priority,
                                   peewee.fn.COUNT(OutboxMessage.id).alias("n"))
              .where(OutboxMessage.state == "queued").group_by(OutboxMessage.priority))
    by_priority = dict.fromkeys(PRIORITY_NAMES.values(), 0)
    for row in queued:
        by_priority[priority_name(int(row.priority))] = int(row.n)
    oldest_in = oldest_inbound_at(INBOUND_PENDING)
    last_in = _time(InboundMessage.select(peewee.fn.MAX(InboundMessage.received_at)).scalar())

    snap = read_snapshot(snapshot_path(db_path))
    running = snap is not None and pid_alive(snap.pid)
    age = None if snap is None else snap.age(now)
    fresh = running and age is not None and age <= SNAPSHOT_FRESH_SECONDS
    modems = _modems(list(modem_names or []), {} if snap is None else snap.modems, fresh)
    return Readings(
        now=now,
        outbox={s: counts.get(f"outbox.{s}", 0) for s in OUTBOX_STATES},
        outbox_due=counts.get("outbox.due", 0),
        queued_by_priority=by_priority,
        oldest_queued_seconds=(float(counts["outbox.oldest_queued_seconds"])
                               if counts.get("outbox.queued") else None),
        inbound={s: counts.get(f"inbound.{s}", 0) for s in INBOUND_STATES},
        oldest_pending_seconds=(None if oldest_in is None
                                else max(0.0, (now - oldest_in).total_seconds())),
        last_received_at=last_in,
        last_sync=last_sync_at(),
        topup_orders={s: counts.get(f"topups.{s}", 0) for s in TOPUP_STATES},
        daemon_running=running,
        snapshot_age_seconds=age,
        modems=modems,
        traffic=hourly_traffic(now),
        topups=_topups(),
        errors=_errors(modems),
    )
