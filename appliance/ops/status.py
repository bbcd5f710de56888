"""`appliance status`: queues, orders, last bank sync, today's traffic, modem health.

Reads the database (never writes it) and the daemon's health snapshot; safe while the
daemon runs. `gather_status` returns plain JSON-able data (`--json` prints it as is).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TypedDict

from appliance.config import Settings
from appliance.ops.backup import fix_sidecar_ownership
from appliance.ops.snapshot import pid_alive, read_snapshot, snapshot_path
from appliance.store.db import open_database, shown_url
from appliance.store.guards import agreements_on_hold, rate_limited_since
from appliance.store.models import INBOUND_STATES, OUTBOX_STATES, REQUEST_STATES, TOPUP_STATES
from appliance.store.queries import (
    counts_for_status,
    last_sync_at,
    local_day_start,
    modem_records,
    oldest_inbound_at,
    traffic_since,
)

# Inbound states still waiting for something (a decision, missing parts).
INBOUND_PENDING = ("stored", "waiting_parts")
ORDERS_PENDING = ("pending", "submitted")


# The shape of `gather_status` (and of `status --json`): a key added there is added here.
class ModemStatus(TypedDict):
    name: str
    port: str
    operator_config: str | None
    healthy: bool | None
    signal_dbm: int | None
    registration: str | None
    operator: str | None
    storage_used: int | None
    storage_total: int | None
    checked_at: str | None
    last_error: str | None
    last_seen: str | None


class InboxStatus(TypedDict):
    by_state: dict[str, int]
    pending: int
    oldest_pending_seconds: int | None


class OutboxStatus(TypedDict):
    by_state: dict[str, int]
    due: int
    oldest_queued_seconds: int | None


class OrdersStatus(TypedDict):
    by_state: dict[str, int]
    pending: int


class SyncStatus(TypedDict):
    at: str | None
    age_seconds: int | None


class TodayStatus(TypedDict):
    since: str
    received: int
    sent: int


class DaemonStatus(TypedDict):
    running: bool
    pid: int | None
    snapshot_age_seconds: int | None


class GuardsStatus(TypedDict):
    sim_hold_agreements: int
    rate_limited_today: int


class StatusReport(TypedDict):
    now: str
    database: str
    inbox: InboxStatus
    outbox: OutboxStatus
    orders: OrdersStatus
    requests: OrdersStatus  # bank requests (STOP/START, SQ/EN/SR, BLLOKO), like top-ups
    last_sync: SyncStatus
    today: TodayStatus
    daemon: DaemonStatus
    modems: list[ModemStatus]
    guards: GuardsStatus


def _age(now: datetime, then: datetime | None) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def gather_status(settings: Settings, now: datetime) -> StatusReport:
    """Everything `status` shows, as plain data. Raises `FileNotFoundError` without a DB."""
    path = Path(settings.database)
    if settings.database_url is None and not path.is_file():
        raise FileNotFoundError(str(path))
    db = open_database(settings.database_url or path, apply_migrations=False)
    try:
        counts = counts_for_status(now)
        oldest_in = oldest_inbound_at(INBOUND_PENDING)
        day_start = local_day_start(now, settings.rules.timezone)
        received_today, sent_today = traffic_since(day_start)
        synced = last_sync_at()
        records = modem_records()
        on_hold = agreements_on_hold(now, settings.rules.sim_hold_hours)
        rate_limited = rate_limited_since(day_start)
    finally:
        db.close()
        fix_sidecar_ownership(path)

    snap = read_snapshot(snapshot_path(path))
    running = snap is not None and pid_alive(snap.pid)
    modems: list[ModemStatus] = []
    for ms in settings.modems:
        facts = snap.modems.get(ms.name) if (snap is not None and running) else None
        record = records.get(ms.name)
        last_seen = record.last_seen if record is not None else None
        modems.append({
            "name": ms.name,
            "port": ms.port,
            "operator_config": ms.operator,
            "healthy": None if facts is None else facts.healthy,
            "signal_dbm": None if facts is None else facts.signal_dbm,
            "registration": None if facts is None else facts.registration,
            "operator": None if facts is None else facts.operator,
            "storage_used": None if facts is None else facts.storage_used,
            "storage_total": None if facts is None else facts.storage_total,
            "checked_at": None if facts is None else facts.checked_at.isoformat(),
            "last_error": None if facts is None else facts.last_error,
            "last_seen": None if last_seen is None else last_seen.isoformat(),
        })

    def by_state(prefix: str, states: tuple[str, ...]) -> dict[str, int]:
        return {s: int(counts.get(f"{prefix}.{s}", 0)) for s in states}

    orders = by_state("topups", TOPUP_STATES)
    requests = by_state("requests", REQUEST_STATES)
    return {
        "now": now.isoformat(),
        "database": shown_url(settings.database_url) if settings.database_url else str(path),
        "inbox": {
            "by_state": by_state("inbound", INBOUND_STATES),
            "pending": sum(int(counts.get(f"inbound.{s}", 0)) for s in INBOUND_PENDING),
            "oldest_pending_seconds": _age(now, oldest_in),
        },
        "outbox": {
            "by_state": by_state("outbox", OUTBOX_STATES),
            "due": int(counts.get("outbox.due", 0)),
            "oldest_queued_seconds": (int(counts["outbox.oldest_queued_seconds"])
                                      if counts.get("outbox.queued") else None),
        },
        "orders": {
            "by_state": orders,
            "pending": sum(orders.get(s, 0) for s in ORDERS_PENDING),
        },
        # STOP/START, SQ/EN/SR, BLLOKO: counted like top-ups (pending: not yet final).
        "requests": {
            "by_state": requests,
            "pending": sum(requests.get(s, 0) for s in ("pending", "submitted")),
        },
        "last_sync": {
            "at": None if synced is None else synced.isoformat(),
            "age_seconds": _age(now, synced),
        },
        "today": {
            "since": day_start.isoformat(),
            "received": received_today,
            "sent": sent_today,
        },
        "daemon": {
            "running": running,
            "pid": snap.pid if (snap is not None and running) else None,
            "snapshot_age_seconds": int(snap.age(now)) if (snap and running) else None,
        },
        "modems": modems,
        "guards": {"sim_hold_agreements": on_hold, "rate_limited_today": rate_limited},
    }


def human_age(seconds: int | None) -> str:
    """`42s`, `5m 03s`, `2h 10m`, `3d 4h`; `-` for None."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
