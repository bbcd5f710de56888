"""`appliance doctor`: gather the facts (config, database, disk, modems, bank) and judge them.

Works whether the daemon runs or not. While it runs it holds the modems' serial ports
(exclusively), so doctor reads the facts the daemon records in its health snapshot
(`appliance.ops.snapshot`) instead of opening them; otherwise doctor opens each port
itself for a short, read-only conversation. The verdicts are in `checks.py` (pure); the
bank checks and the credential paths in `doctor_bank.py`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from appliance.clitexts import t
from appliance.config import ModemSettings, Settings
from appliance.modem.errors import ModemError, ModemTimeout
from appliance.modem.wrapper import Modem
from appliance.ops import checks, privacy
from appliance.ops.backup import fix_sidecar_ownership
from appliance.ops.checks import Check, Status, row
from appliance.ops.doctor_bank import bank_checks, credential_path
from appliance.ops.snapshot import (
    ModemFacts,
    Snapshot,
    collect_facts,
    pid_alive,
    port_holders,
    process_name,
    processes_named,
    read_snapshot,
    snapshot_path,
)
from appliance.store.db import open_database, shown_url
from appliance.store.queries import modem_records, record_modem_identity

# Doctor's own modem conversation: short timeouts, it is a diagnosis.
PROBE_TIMEOUT = 5.0


def _modem_label(name: str, what: str) -> str:
    return t("ops.label.modem", name=name, what=t(f"ops.what.{what}"))


# --- database and disk -------------------------------------------------------------------


class Closable(Protocol):
    """The open database, as far as doctor needs it."""

    def close(self) -> object: ...


@dataclass
class DatabaseFacts:
    checks: list[Check]
    previous_imsi: dict[str, str | None]
    usable: bool  # the models can be used (ModemRecord reads and writes)
    handle: Closable | None = None  # the open peewee database, closed by `run_doctor`


def _postgres_checks(url: str) -> DatabaseFacts:
    """The shared PostgreSQL: it opens (migrated, never migrated here), and its records."""
    label = t("ops.label.db_open")
    try:
        handle = open_database(url, apply_migrations=False)
        previous = {name: r.imsi for name, r in modem_records().items()}
    except Exception as exc:  # down, refused, or not migrated yet
        return DatabaseFacts([row("database.open", label, Status.FAIL,
                                  t("ops.db.cannot", error=str(exc).splitlines()[0][:200]),
                                  t("ops.advice.db_open"))], {}, False)
    return DatabaseFacts([row("database.open", label, Status.OK,
                              t("ops.db.ok", path=shown_url(url)))], previous, True, handle)


def database_checks(path: Path, url: str | None = None) -> DatabaseFacts:
    """Opens, integrity_check, WAL mode; and the IMSIs recorded per modem. With `url`,
    the shared PostgreSQL instead (SQLite's file checks do not apply)."""
    if url is not None:
        return _postgres_checks(url)
    label = t("ops.label.db_open")
    if not path.exists():
        # Never create it here: a file made by root would lock the daemon out of it.
        if path.parent.is_dir():
            return DatabaseFacts([row("database.open", label, Status.WARN,
                                      t("ops.db.missing", path=path),
                                      t("ops.advice.db_missing"))], {}, False)
        return DatabaseFacts([row("database.open", label, Status.FAIL,
                                  t("ops.db.no_dir", path=path.parent),
                                  t("ops.advice.db_open"))], {}, False)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            integrity = str(con.execute("PRAGMA integrity_check").fetchone()[0])
            journal = str(con.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error as exc:
        return DatabaseFacts([row("database.open", label, Status.FAIL,
                                  t("ops.db.cannot", error=exc), t("ops.advice.db_open"))],
                             {}, False)
    finally:
        fix_sidecar_ownership(path)
    out = [row("database.open", label, Status.OK, t("ops.db.ok", path=path)),
           checks.integrity_verdict(integrity), checks.wal_verdict(journal)]
    previous: dict[str, str | None] = {}
    usable = False
    handle = None
    try:
        handle = open_database(path, apply_migrations=False)
        previous = {name: r.imsi for name, r in modem_records().items()}
        usable = True
    except Exception as exc:  # an older schema: the identity check just has no history
        out.append(row("database.schema", label, Status.WARN, str(exc)[:200],
                       t("ops.advice.db_open")))
    return DatabaseFacts(out, previous, usable, handle)


def disk_check(path: Path) -> Check:
    where = path.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    return checks.disk_verdict(str(where), usage.free, usage.total)


# --- modems --------------------------------------------------------------------------


def _is_device_path(port: str) -> bool:
    return "://" not in port


def _is_our_daemon(pid: int, proc: Path = Path("/proc")) -> bool:
    """Whether `pid` is an `appliance run` process (by its command line)."""
    try:
        args = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [a.decode(errors="replace") for a in args if a]
    return "run" in words and any("appliance" in w for w in words)


def _read_secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return credential_path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def probe_modem(ms: ModemSettings, now: datetime, previous_imsi: str | None,
                timeout: float = PROBE_TIMEOUT) -> tuple[list[Check], ModemFacts | None]:
    """Open the modem ourselves (no daemon holds it); rows for port and AT, and the facts."""
    name, port = ms.name, ms.port
    port_label = _modem_label(name, "port")
    if _is_device_path(port):
        if not os.path.exists(port):
            return [checks.port_absent(f"modem.{name}", port_label, port)], None
        holders = port_holders(port)
        daemons = [pid for pid in holders if _is_our_daemon(pid)]
        if daemons:
            # The daemon has the port but wrote no facts yet (it just started).
            return [row(f"modem.{name}.port", port_label, Status.WARN,
                        t("ops.port.daemon", port=port, pid=daemons[0]),
                        t("ops.advice.daemon_starting"))], None
        if holders:
            who = ", ".join(f"{pid} ({process_name(pid)})" for pid in holders)
            return [row(f"modem.{name}.port", port_label, Status.FAIL,
                        t("ops.port.busy", port=port) + f": {who}",
                        t("ops.advice.port_busy"))], None
        if not os.access(port, os.R_OK | os.W_OK):
            return [row(f"modem.{name}.port", port_label, Status.FAIL,
                        t("ops.port.denied", port=port), t("ops.advice.port_perm"))], None
    rows = [row(f"modem.{name}.port", port_label, Status.OK, t("ops.port.ok", port=port))]
    modem = Modem(
        port, baudrate=ms.baudrate, rtscts=ms.rtscts, pin=_read_secret(ms.pin_file),
        command_timeout=min(timeout, ms.command_timeout), list_timeout=timeout, name=name,
        probe=True,
    )
    at_label = _modem_label(name, "at")
    try:
        modem.open()
    except ModemTimeout as exc:
        modem.close()
        return [*rows, checks.no_answer(f"modem.{name}", at_label, str(exc))], None
    except (ModemError, OSError) as exc:
        modem.close()
        if "lock" in str(exc).lower():
            return [row(f"modem.{name}.port", port_label, Status.FAIL,
                        t("ops.port.busy", port=port), t("ops.advice.port_busy"))], None
        return [*rows, checks.no_answer(f"modem.{name}", at_label, str(exc))], None
    try:
        if not modem.ping():
            return [*rows, checks.no_answer(f"modem.{name}", at_label, "AT")], None
        rows.append(row(f"modem.{name}.at", at_label, Status.OK, t("ops.at.ok")))
        facts = collect_facts(name, port, modem, now=now, previous_imsi=previous_imsi)
    finally:
        modem.close()
    return rows, facts


def facts_rows(ms: ModemSettings, facts: ModemFacts, previous_imsi: str | None) -> list[Check]:
    """The verdict rows for one modem's facts (probed now, or from the daemon)."""
    name = ms.name
    prefix = f"modem.{name}"
    out = [
        checks.identity_verdict(prefix, _modem_label(name, "model"), facts.manufacturer,
                                facts.model, facts.firmware),
        checks.pin_verdict(prefix, _modem_label(name, "pin"), facts.pin_state,
                           str(ms.pin_file) if ms.pin_file else None),
    ]
    sim_ready = (facts.pin_state or "").upper() == "READY"
    if sim_ready:
        out.append(checks.imsi_verdict(prefix, _modem_label(name, "imsi"), facts.imsi,
                                       facts.imsi_previous or previous_imsi))
        out.append(checks.registration_verdict(prefix, _modem_label(name, "registration"),
                                               facts.registration, facts.operator))
    out.append(checks.signal_verdict(prefix, _modem_label(name, "signal"), facts.signal_dbm))
    if sim_ready:
        out.append(checks.storage_verdict(prefix, _modem_label(name, "storage"),
                                          facts.storage_used, facts.storage_total))
        out.append(checks.smsc_verdict(prefix, _modem_label(name, "smsc"), facts.smsc))
    return out


def modemmanager_check(proc: Path = Path("/proc")) -> Check:
    """ModemManager probes every modem it sees with its own AT commands: warn while it runs.

    The udev rule tells it to ignore the known families; a stick of another family, or a
    rule not reloaded yet, would still be grabbed.
    """
    label = t("ops.label.modemmanager")
    pids = processes_named("ModemManager", proc)
    if pids:
        return row("modemmanager", label, Status.WARN,
                   t("ops.mm.running", pid=pids[0]), t("ops.advice.port_busy"))
    return row("modemmanager", label, Status.OK, t("ops.mm.absent"))


def daemon_state(settings: Settings, now: datetime) -> Snapshot | None:
    """The daemon's snapshot when the daemon that wrote it is still alive, else None."""
    snap = read_snapshot(snapshot_path(settings.database))
    if snap is None or not pid_alive(snap.pid):
        return None
    return snap


def daemon_check(settings: Settings, snap: Snapshot | None, now: datetime) -> Check:
    """OK while it runs; a box that must answer around the clock FAILs when it does not."""
    label = t("ops.label.daemon")
    if snap is not None:
        age = int(snap.age(now))
        stale = age > checks.SNAPSHOT_STALE_SECONDS
        return row("daemon", label, Status.WARN if stale else Status.OK,
                   t("ops.daemon.stale" if stale else "ops.daemon.running",
                     pid=snap.pid, age=age),
                   t("ops.advice.snapshot_stale") if stale else "")
    for ms in settings.modems:  # started, but no snapshot written yet
        if _is_device_path(ms.port) and os.path.exists(ms.port):
            for pid in port_holders(ms.port):
                if _is_our_daemon(pid):
                    return row("daemon", label, Status.WARN,
                               t("ops.daemon.starting", pid=pid, port=ms.port),
                               t("ops.advice.daemon_starting"))
    return row("daemon", label, Status.FAIL, t("ops.daemon.stopped"),
               t("ops.advice.daemon_stopped"))


def modem_checks_from_daemon(ms: ModemSettings, snap: Snapshot, now: datetime,
                             previous_imsi: str | None) -> list[Check]:
    name = ms.name
    prefix = f"modem.{name}"
    facts = snap.modems.get(name)
    if facts is None:
        return [row(f"{prefix}.snapshot", _modem_label(name, "snapshot"), Status.WARN,
                    t("ops.snapshot.missing"), t("ops.advice.snapshot_stale"))]
    out: list[Check] = []
    age = int((now - facts.checked_at).total_seconds())
    if age > checks.SNAPSHOT_STALE_SECONDS:
        out.append(row(f"{prefix}.snapshot", _modem_label(name, "snapshot"), Status.WARN,
                       t("ops.snapshot.stale", age=age), t("ops.advice.snapshot_stale")))
    if _is_device_path(ms.port) and not os.path.exists(ms.port):
        out.append(checks.port_absent(prefix, _modem_label(name, "port"), ms.port))
        return out
    out.append(row(f"{prefix}.port", _modem_label(name, "port"), Status.OK,
                   t("ops.port.ok", port=ms.port)))
    at_label = _modem_label(name, "at")
    if not facts.healthy:
        out.append(row(f"{prefix}.at", at_label, Status.FAIL,
                       t("ops.at.daemon_down", error=facts.last_error or "?"),
                       t("ops.advice.modem_recover")))
        return out
    out.append(row(f"{prefix}.at", at_label, Status.OK, t("ops.at.from_daemon")))
    return out + facts_rows(ms, facts, previous_imsi)


# --- the whole run -------------------------------------------------------------------


def run_doctor(settings: Settings, now: datetime | None = None) -> list[Check]:
    """Every check, in table order. `now` is the UTC time of the run."""
    now = now or datetime.now(UTC)
    out: list[Check] = [row("config", t("ops.label.config"), Status.OK,
                            t("ops.config.ok", path=settings.source,
                              modems=len(settings.modems)))]
    db = database_checks(settings.database, settings.database_url)
    try:
        out += db.checks
        out += _rest(settings, db, now)
    finally:
        if db.handle is not None:
            db.handle.close()
        fix_sidecar_ownership(settings.database)
    return out


def _rest(settings: Settings, db: DatabaseFacts, now: datetime) -> list[Check]:
    out = [disk_check(settings.database)]
    token = settings.bank.token_file
    out += privacy.doctor_rows(settings.database, credential_path(token) if token else None)
    snap = daemon_state(settings, now)
    out += [daemon_check(settings, snap, now), modemmanager_check()]
    for ms in settings.modems:
        previous = db.previous_imsi.get(ms.name)
        if snap is not None:
            out += modem_checks_from_daemon(ms, snap, now, previous)
            continue
        rows, facts = probe_modem(ms, now, previous)
        out += rows
        if facts is not None:
            out += facts_rows(ms, facts, previous)
            if db.usable and facts.imsi:
                _record_identity(ms.name, facts, now)
    out += bank_checks(settings.bank, now)
    return out


def _record_identity(name: str, facts: ModemFacts, now: datetime) -> None:
    """Remember the SIM we saw, so the next run can tell when it changed."""
    try:
        record_modem_identity(name, facts.imsi, facts.imei, now)
    except Exception:  # read-only database or older schema: the check still ran
        return


__all__ = [
    "bank_checks",
    "credential_path",
    "daemon_check",
    "database_checks",
    "facts_rows",
    "probe_modem",
    "run_doctor",
]
