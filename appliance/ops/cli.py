"""`appliance doctor`, `appliance status` and `appliance backup` (DESIGN §9).

Exit codes: 0 fine; 1 a check failed (doctor), the daemon is not running or the database
is missing (status), or the backup failed; 2 bad usage or configuration, with one line on
stderr naming the key.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import peewee
from rich.console import Console
from rich.table import Table
from rich.text import Text

from appliance.clitexts import t
from appliance.config import load_or_exit
from appliance.ops.backup import BACKUP_DIR_NAME, backup_database
from appliance.ops.checks import Check, Status, exit_code
from appliance.ops.doctor import run_doctor
from appliance.ops.pgbackup import PgBackupError, dump_database
from appliance.ops.privacy import private_start
from appliance.ops.status import StatusReport, gather_status, human_age
from appliance.store.db import StoreError

_STYLE = {Status.OK: "bold green", Status.WARN: "bold yellow", Status.FAIL: "bold red"}
_CONFIG_OPTION = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The appliance's TOML configuration file.")
_JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                            help="Print JSON for scripts instead of a table.")


def _console() -> Console:
    # A wide, plain console when not on a terminal: logs and pipes keep whole lines.
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200,
                   highlight=False)


def _now() -> datetime:
    return datetime.now(UTC)


def render_doctor(checks: list[Check], config: Path, console: Console) -> None:
    """The doctor table: check, status, detail, what to do."""
    table = Table(title=t("ops.doctor.title", config=config), title_justify="left",
                  show_lines=False, expand=False)
    table.add_column(t("ops.col.check"), no_wrap=True)
    table.add_column(t("ops.col.status"), no_wrap=True)
    table.add_column(t("ops.col.detail"), overflow="fold")
    table.add_column(t("ops.col.advice"), overflow="fold")
    for c in checks:
        table.add_row(Text(c.check), Text(c.status.value, style=_STYLE[c.status]),
                      Text(c.detail), Text(c.advice))
    console.print(table)
    fails = sum(c.status is Status.FAIL for c in checks)
    warns = sum(c.status is Status.WARN for c in checks)
    if fails:
        console.print(Text(t("ops.doctor.summary_fail", fail=fails, warn=warns), style="red"))
    else:
        console.print(Text(t("ops.doctor.summary_ok", warn=warns), style="green"))


@click.command("doctor")
@_CONFIG_OPTION
@_JSON_OPTION
def doctor_command(config_path: Path, as_json: bool) -> None:
    """Check config, database, modems (SIM, network, signal, storage) and the bank.

    \b
    Exit status:
      0  every check passed (warnings allowed)
      1  a check failed: a FAIL row, e.g. the daemon is not running or a
         file with personal data is readable by others
      2  bad usage or configuration (one line on stderr naming the key)
    """
    settings = load_or_exit(config_path)
    checks = run_doctor(settings, _now())
    code = exit_code(checks)
    if as_json:
        click.echo(json.dumps({"ok": code == 0, "exit": code,
                               "checks": [c.to_json() for c in checks]}, ensure_ascii=False))
    else:
        render_doctor(checks, config_path, _console())
    sys.exit(code)


def render_status(data: StatusReport, console: Console) -> None:
    """The status screen: daemon, queues, last sync, today, modems."""
    console.print(Text(t("ops.status.title", now=data["now"]), style="bold"))
    daemon = data["daemon"]
    if daemon["running"]:
        console.print(t("ops.status.daemon_running", pid=daemon["pid"],
                        age=daemon["snapshot_age_seconds"]))
    else:
        console.print(Text(t("ops.status.daemon_stopped"), style="yellow"))

    queues = Table(show_header=True, title_justify="left")
    queues.add_column("")
    queues.add_column(t("ops.status.col.state"))
    queues.add_column(t("ops.status.col.count"), justify="right")
    for by_state, title in ((data["inbox"]["by_state"], "ops.status.inbox"),
                            (data["outbox"]["by_state"], "ops.status.outbox"),
                            (data["orders"]["by_state"], "ops.status.orders"),
                            (data["requests"]["by_state"], "ops.status.requests")):
        first = True
        for state, n in by_state.items():
            style = "red" if state == "failed" and n else ("yellow" if n and state in (
                "queued", "sending", "pending", "submitted", "waiting_parts", "stored")
                else "")
            queues.add_row(t(title) if first else "", state, Text(str(n), style=style))
            first = False
        queues.add_section()
    console.print(queues)
    oldest_in = data["inbox"]["oldest_pending_seconds"]
    oldest_out = data["outbox"]["oldest_queued_seconds"]
    console.print(f"{t('ops.status.inbox')}: " + t("ops.status.oldest", age=human_age(oldest_in))
                  + f"; {t('ops.status.outbox')}: "
                  + t("ops.status.oldest", age=human_age(oldest_out)))
    sync = data["last_sync"]
    if sync["at"] is None:
        console.print(Text(t("ops.status.sync_never"), style="yellow"))
    else:
        console.print(t("ops.status.sync", when=sync["at"], age=human_age(sync["age_seconds"])))
    console.print(t("ops.status.today", received=data["today"]["received"],
                    sent=data["today"]["sent"]))
    console.print(t("ops.status.guards", held=data["guards"]["sim_hold_agreements"],
                    limited=data["guards"]["rate_limited_today"]))

    modems = Table(title=t("ops.status.modems"), title_justify="left")
    for key in ("modem", "health", "signal", "network", "storage", "seen"):
        modems.add_column(t(f"ops.status.col.{key}"))
    for m in data["modems"]:
        if m["healthy"] is None:
            health = Text(t("ops.status.modem_unknown"), style="yellow")
        elif m["healthy"]:
            health = Text(t("ops.status.healthy"), style="green")
        else:
            health = Text(t("ops.status.unhealthy") + (f": {m['last_error']}"
                                                       if m["last_error"] else ""), style="red")
        signal = "-" if m["signal_dbm"] is None else f"{m['signal_dbm']} dBm"
        network = " ".join(x for x in (m["registration"], m["operator"]) if x) or "-"
        storage = ("-" if m["storage_total"] is None
                   else f"{m['storage_used']}/{m['storage_total']}")
        modems.add_row(f"{m['name']} ({m['port']})", health, signal, network, storage,
                       m["checked_at"] or m["last_seen"] or "-")
    console.print(modems)


@click.command("status")
@_CONFIG_OPTION
@_JSON_OPTION
def status_command(config_path: Path, as_json: bool) -> None:
    """Queues by state and age, pending orders, last bank sync, today's traffic, modems.

    \b
    Exit status:
      0  the daemon is running (the report is printed)
      1  the daemon is not running (the report is still printed), or the
         database is missing or cannot be read (one line on stderr)
      2  bad usage or configuration (one line on stderr naming the key)
    """
    settings = load_or_exit(config_path)
    try:
        data = gather_status(settings, _now())
    except FileNotFoundError as exc:
        click.echo(t("ops.error.database", error=f"{exc} does not exist"), err=True)
        sys.exit(1)
    except (StoreError, sqlite3.Error, peewee.PeeweeException) as exc:
        # peewee wraps sqlite's errors in its own classes: both mean the database failed.
        click.echo(t("ops.error.database", error=str(exc).splitlines()[0]), err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        render_status(data, _console())
    # A box must answer around the clock: a stopped daemon is a failed check (DESIGN §9).
    sys.exit(0 if data["daemon"]["running"] else 1)


@click.command("backup")
@_CONFIG_OPTION
@click.option("--keep", type=click.IntRange(min=1), default=14, show_default=True,
              help="Delete backups older than this many days (the newest always stays).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the copies (default: backups/ next to the database).")
def backup_command(config_path: Path, keep: int, dest: Path | None) -> None:
    """Copy the database online (SQLite backup API, or pg_dump with `[database] url`),
    verify the copy, prune old ones."""
    settings = load_or_exit(config_path)
    private_start(settings.database)  # a manual run's umask must not widen the copies
    database = Path(settings.database)
    target = dest if dest is not None else database.parent / BACKUP_DIR_NAME
    if settings.database_url is not None:
        _backup_postgres(settings.database_url, target, keep)
        return
    try:
        result = backup_database(database, target, _now(), keep)
    except FileNotFoundError:
        click.echo(t("ops.backup.no_db", path=database), err=True)
        sys.exit(1)
    except (sqlite3.Error, OSError) as exc:
        click.echo(t("ops.backup.failed", error=exc), err=True)
        sys.exit(1)
    click.echo(t("ops.backup.done", path=result.path, size=result.size,
                 removed=len(result.removed)))


def _backup_postgres(url: str, target: Path, keep: int) -> None:
    """`backup` of the shared PostgreSQL database (`ops.pgbackup`): exit 1 on failure."""
    try:
        result = dump_database(url, target, _now(), keep)
    except FileNotFoundError as exc:
        click.echo(t("ops.backup.no_pg_tool", tool=exc.args[0]), err=True)
        sys.exit(1)
    except (PgBackupError, OSError) as exc:
        click.echo(t("ops.backup.failed", error=exc), err=True)
        sys.exit(1)
    click.echo(t("ops.backup.done", path=result.path, size=result.size,
                 removed=len(result.removed)))
