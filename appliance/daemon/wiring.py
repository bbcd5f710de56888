"""The daemon (`appliance run --config FILE`): wires modems, inbox, outbox, bank and systemd.

Threads: one inbox worker (woken by `+CMTI` and by the scheduled poll), one outbox worker
per modem, modem health, a top-up submitter (woken right after a decision creates an
order), and APScheduler for the periodic jobs (inbox poll, bank sync, top-up retries,
daily housekeeping that deletes finished traffic older than `retention_days`).
The main thread waits for SIGTERM/SIGINT, keeps the systemd status line current and
lets the watchdog ping only while every part is alive and turning.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import click
from apscheduler.schedulers.background import BackgroundScheduler

from appliance import sdnotify
from appliance.bank.client import BankClient
from appliance.bank.sync import sync_once
from appliance.bank.topups import submit_pending
from appliance.clitexts import t
from appliance.config import load_or_exit
from appliance.logs import setup_logging
from appliance.modem.errors import ModemError, ModemGone, ModemTimeout
from appliance.modem.health import Health, HealthPolicy
from appliance.modem.inbox import Inbox, InboxPolicy
from appliance.modem.outbox import (
    OutboxPolicy,
    OutboxWorker,
    recover_interrupted,
    route_queued,
)
from appliance.modem.pool import ModemHandle, Pool
from appliance.modem.wrapper import Modem
from appliance.ops.snapshot import ModemFacts, collect_facts, snapshot_path, write_snapshot
from appliance.store import open_database, queries
from appliance.store.db import write_transaction, writing

log = logging.getLogger(__name__)

# Decided inbound states `queries.prune` may delete (the oldest of them starts its steps).
_FINISHED_INBOUND = ("handled", "ignored", "undecodable")
# The first housekeeping pass waits this long after start: start-up work goes first.
HOUSEKEEPING_DELAY = timedelta(seconds=60)


def utcnow() -> datetime:
    return datetime.now(UTC)


ModemFactory = Callable[[Any, "Daemon", ModemHandle], Any]


def default_modem_factory(modem_settings: Any, daemon: Daemon, handle: ModemHandle) -> Any:
    """Build (not open) the wrapper `Modem` for one configured modem, callbacks wired."""
    name = handle.name
    pin: str | None = None
    pin_file = modem_settings.pin_file
    if pin_file:
        pin = Path(pin_file).read_text(encoding="utf-8").strip() or None
    return Modem(
        str(modem_settings.port),
        baudrate=int(modem_settings.baudrate),
        rtscts=bool(modem_settings.rtscts),
        pin=pin,
        command_timeout=float(modem_settings.command_timeout),
        # AT+CMGS may take long on a weak network (vendors allow 60-120 s): four times the
        # command timeout (120 s with the default 30); listing may take a while too.
        send_timeout=4 * float(modem_settings.command_timeout),
        list_timeout=float(modem_settings.command_timeout),
        name=name,
        on_new_message=lambda *_a: daemon.message_notified(handle),
        on_status_report=lambda report: daemon.inbox.on_status_report(
            name, int(report.ref), bool(report.delivered)),
        on_gone=lambda *_a: handle.mark_unhealthy("port vanished"),
    )


class Daemon:
    """The running appliance. `start()`, then `run(stop_event)` or `stop()`."""

    def __init__(self, settings: Any, *, clock: Callable[[], datetime] = utcnow,
                 modem_factory: ModemFactory = default_modem_factory,
                 health_policy: HealthPolicy | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.stop_event = threading.Event()
        self._modem_factory = modem_factory
        self._health_policy = health_policy or HealthPolicy()
        self.db: Any = None
        self.bank: Any = None
        self.scheduler: Any = None
        self.workers: list[OutboxWorker] = []
        self.pool = Pool([], settings.rules.numbering_plan)
        inbox_cfg = settings.inbox
        self.inbox = Inbox(
            InboxPolicy(
                rules=settings.rules,
                multipart_timeout=timedelta(seconds=float(inbox_cfg.multipart_timeout)),
                multipart_policy=str(inbox_cfg.multipart_policy),
                unknown_sender=str(settings.unknown_sender.policy),
            ),
            clock,
            route=self.pool.route,
            bank_reachable=self.bank_reachable,
        )
        out_cfg = settings.outbox
        self.outbox_policy = OutboxPolicy(
            max_attempts=int(out_cfg.max_attempts),
            backoff=timedelta(seconds=float(out_cfg.backoff_initial)),
            backoff_max=timedelta(seconds=float(out_cfg.backoff_max)),
            on_sending=out_cfg.sending_policy,
        )
        self.health = Health(self.pool, self._health_policy, self.stop_event,
                             on_recovered=self._modem_recovered,
                             on_checked=self._refresh_facts)
        self.started_at = clock()
        self._facts: dict[str, ModemFacts] = {}
        self._facts_lock = threading.Lock()
        self._previous_imsi: dict[str, str | None] = {}
        self._snapshot_due = 0.0
        self._inbox_wake = threading.Event()
        self._topup_wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.inbox_heartbeat = time.monotonic()
        self.main_heartbeat = time.monotonic()
        self.last_sync: datetime | None = None
        self.last_sync_error: str | None = None
        self._started = False
        self._synced = False
        self._said_waiting = False
        self._stopped = False
        self._stop_lock = threading.Lock()

    # -- wiring ------------------------------------------------------------------------
    def start(self, *, first_sync: bool = False) -> None:
        """Open the database, recover, open the modems and start every worker.

        With `first_sync`, one bank sync runs before the workers start (the demo wants
        its data in place before it prints the banner); otherwise the scheduler runs the
        first sync at once in the background, so a bank that is down cannot delay start-up.
        """
        s = self.settings
        self.db = open_database(Path(s.database))
        recover_interrupted(self.outbox_policy, self.clock())
        for m in s.modems:
            handle = ModemHandle(m.name, getattr(m, "operator", None), lambda: None)
            handle._factory = self._bind_factory(m, handle)
            handle.on_change = self._modem_changed
            self.pool.handles[handle.name] = handle
        self.bank = self._make_bank_client()
        if first_sync:
            self.sync_bank()
        self.health.open_all()
        route_queued(self.pool)
        for handle in self.pool:
            worker = OutboxWorker(handle, self.pool, self.outbox_policy, self.clock,
                                  self.stop_event)
            self.workers.append(worker)
            worker.start()
        self._spawn("inbox", self._inbox_loop)
        self._spawn("topups", self._topup_loop)
        self._spawn("status-reports", self._reports_loop)
        self.health.start()
        self._start_scheduler(sync_now=not first_sync)
        self._started = True
        self.wake_inbox()
        self.wake_topups()
        log.info("daemon started: %d modem(s), %d in service", len(self.pool.handles),
                 len(self.pool.healthy()))

    def _bind_factory(self, modem_settings: Any, handle: ModemHandle) -> Callable[[], Any]:
        return lambda: self._modem_factory(modem_settings, self, handle)

    def _make_bank_client(self) -> Any:
        b = self.settings.bank
        return BankClient(
            b.url, b.token_file, ca_file=b.ca_file, connect_timeout=b.connect_timeout,
            read_timeout=b.read_timeout, retries=b.retries,
        )

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _start_scheduler(self, *, sync_now: bool) -> None:
        s = self.settings
        sched = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
        sched.add_job(self.wake_inbox, "interval", seconds=float(s.inbox.poll_interval),
                      id="inbox-poll")
        sched.add_job(self.sync_bank, "interval", seconds=float(s.bank.sync_interval),
                      id="bank-sync", **({"next_run_time": datetime.now(UTC)} if sync_now else {}))
        sched.add_job(self.wake_topups, "interval",
                      seconds=float(getattr(s.bank, "topup_interval", 10)), id="topups")
        sched.add_job(self.housekeeping, "interval", days=1, id="housekeeping",
                      next_run_time=datetime.now(UTC) + HOUSEKEEPING_DELAY)
        sched.start()
        self.scheduler = sched

    # -- wakes -------------------------------------------------------------------------
    def wake_inbox(self) -> None:
        self._inbox_wake.set()

    def message_notified(self, handle: ModemHandle) -> None:
        """A +CMTI from `handle`'s modem: read it before that modem's next send."""
        handle.want_inbox()
        self.wake_inbox()

    def wake_outbox(self) -> None:
        for worker in self.workers:
            worker.wake()

    def wake_topups(self) -> None:
        self._topup_wake.set()

    def _modem_changed(self, handle: ModemHandle) -> None:
        # A modem left or re-entered service: the others may now take its queue.
        self.wake_outbox()
        if not handle.healthy:
            self.health.wake()
            with self._facts_lock:
                old = self._facts.get(handle.name)
                port = self._port_of(handle.name)
                self._facts[handle.name] = (
                    replace(old, healthy=False, last_error=handle.last_error,
                            checked_at=self.clock()) if old is not None
                    else ModemFacts(handle.name, port, False, self.clock(),
                                    last_error=handle.last_error))
            self._snapshot_due = 0.0

    def _modem_recovered(self, handle: ModemHandle) -> None:
        self.wake_inbox()
        self.wake_outbox()
        self._refresh_facts(handle, record_identity=True)

    def _port_of(self, name: str) -> str:
        return next((str(m.port) for m in self.settings.modems if m.name == name), "?")

    def _refresh_facts(self, handle: ModemHandle, *, record_identity: bool = False) -> None:
        """Ask the modem what doctor and status show (health snapshot); never raises."""
        now = self.clock()
        try:
            if record_identity:
                info = handle.call(lambda m: m.info())
                with write_transaction():
                    self._previous_imsi[handle.name] = queries.record_modem_identity(
                        handle.name, info.imsi, info.imei, now)
            previous = self._previous_imsi.get(handle.name)
            facts = handle.call(lambda m: collect_facts(
                handle.name, self._port_of(handle.name), m, now=now, previous_imsi=previous,
                healthy=handle.healthy))
        except Exception as exc:
            log.debug("modem %s: facts not collected: %s", handle.name, exc)
            return
        if previous and facts.imsi and previous != facts.imsi:
            log.warning("modem %s: the SIM changed since it was last seen", handle.name)
        with self._facts_lock:
            self._facts[handle.name] = facts
        self._snapshot_due = 0.0

    def write_snapshot(self) -> None:
        """The health snapshot `doctor` and `status` read while the daemon holds the ports."""
        with self._facts_lock:
            facts = [self._facts.get(h.name) or ModemFacts(
                h.name, self._port_of(h.name), h.healthy, self.clock(),
                last_error=h.last_error) for h in self.pool]
        try:
            write_snapshot(snapshot_path(Path(self.settings.database)), facts, self.clock(),
                           started_at=self.started_at)
        except OSError as exc:
            log.warning("health snapshot not written: %s", exc)

    # -- workers -----------------------------------------------------------------------
    def _inbox_loop(self) -> None:
        poll = float(self.settings.inbox.poll_interval)
        wait = 0.0
        while not self.stop_event.is_set():
            self._inbox_wake.wait(wait)
            self._inbox_wake.clear()
            if self.stop_event.is_set():
                return
            self.inbox_heartbeat = time.monotonic()
            try:
                wait = self.inbox_turn(poll)
            except Exception:
                log.exception("inbox: unexpected error")
                wait = 1.0

    def inbox_turn(self, poll: float) -> float:
        """Read every healthy modem, decide what is complete; seconds until the next look."""
        generations = {h: h.inbox_generation() for h in self.pool.healthy()}
        try:
            return self._inbox_turn(poll)
        finally:
            for handle, generation in generations.items():
                handle.inbox_done(generation)

    def _inbox_turn(self, poll: float) -> float:
        for handle in self.pool.healthy():
            try:
                self.inbox.collect(handle)
            except (ModemTimeout, ModemGone) as exc:
                handle.mark_unhealthy(str(exc))
            except ModemError as exc:
                log.warning("modem %s: reading messages failed: %s", handle.name, exc)
        if not self._ever_synced():
            # A fresh database knows no agreement yet: every customer would be refused as
            # a stranger. Messages are stored (and deleted from the modem) meanwhile, and
            # answered once the first sync is in.
            if not self._said_waiting:
                log.warning("inbox: waiting for the first bank sync before answering")
                self._said_waiting = True
            return poll
        result = self.inbox.process()
        if result.replies:
            self.wake_outbox()
        if result.orders:
            self.wake_topups()
        wait = poll
        if result.waiting_until is not None:
            until = (result.waiting_until - self.clock()).total_seconds()
            wait = max(0.05, min(wait, until + 0.01))
        return wait

    def _ever_synced(self) -> bool:
        if not self._synced:
            self._synced = queries.last_sync_at() is not None
        return self._synced

    def _reports_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.inbox.apply_status_reports(0.5)
            except Exception:
                log.exception("status reports: unexpected error")
                self.stop_event.wait(1.0)

    def _topup_loop(self) -> None:
        while not self.stop_event.is_set():
            self._topup_wake.wait(5.0)
            self._topup_wake.clear()
            if self.stop_event.is_set():
                return
            try:
                self.submit_topups()
            except Exception:
                log.exception("top-ups: unexpected error")

    def submit_topups(self) -> None:
        n = submit_pending(self.bank, self.settings.rules, self.clock(),
                           hold_seconds=self.settings.bank.topup_hold_seconds,
                           clock=self.clock)
        if n:
            route_queued(self.pool)
            self.wake_outbox()

    def sync_bank(self) -> None:
        """One bank sync (scheduled); alerts it queues are sent at once."""
        try:
            report = sync_once(self.bank, self.settings.rules, self.clock(),
                               page_size=self.settings.bank.page_size)
        except Exception as exc:
            self.last_sync_error = str(exc)
            log.warning("bank sync failed: %s", exc)
            return
        self.last_sync = self.clock()
        self.last_sync_error = None
        if report.alerts:
            route_queued(self.pool)
            self.wake_outbox()
        if not self._synced:
            self.wake_inbox()  # messages may be waiting for the first sync

    def housekeeping(self) -> dict[str, int]:
        """Delete finished traffic older than `retention_days` (daily; once after start).

        `queries.prune` deletes in one write transaction. To keep that short on a big
        database (the first pass after an upgrade may find years of rows), the cutoff
        advances one day at a time from the oldest decided inbound message, so each
        transaction holds the write lock for about one day's traffic and the other
        writers get in between. Returns the rows deleted per table; logs counts only.
        """
        days = int(getattr(self.settings, "retention_days", 90))
        totals = {"outbox": 0, "inbound": 0, "unknown_sender": 0}
        if days <= 0:  # 0: keep for ever
            return totals
        before = self.clock() - timedelta(days=days)
        try:
            oldest = queries.oldest_inbound_at(_FINISHED_INBOUND)
            cutoff = before if oldest is None else min(before, oldest + timedelta(days=1))
            while True:
                with writing():
                    deleted = queries.prune(cutoff)
                for table, n in deleted.items():
                    totals[table] = totals.get(table, 0) + n
                if cutoff >= before or self.stop_event.is_set():
                    break
                cutoff = min(before, cutoff + timedelta(days=1))
        except Exception:
            log.exception("housekeeping: pruning old rows failed")
            return totals
        log.info("housekeeping: removed rows older than %d days: %d outgoing SMS, "
                 "%d incoming SMS, %d refusal markers", days, totals["outbox"],
                 totals["inbound"], totals["unknown_sender"])
        return totals

    def bank_reachable(self) -> bool:
        """False while the last bank sync failed: balances are then answered with their
        "as of" time, and top-ups refused at once unless `bank.topup_hold_seconds` asks
        to hold them (the top-up job then waits for the bank that long)."""
        if self.settings.bank.topup_hold_seconds > 0:
            return True
        return self.last_sync_error is None

    # -- health, run, stop -------------------------------------------------------------
    def healthy(self) -> bool:
        """The watchdog's predicate: every thread alive and the loops turning."""
        if not self._started or self.stop_event.is_set():
            return False
        now = time.monotonic()
        poll = float(self.settings.inbox.poll_interval)
        threads_ok = all(t.is_alive() for t in self._threads) and all(
            w.alive for w in self.workers) and self.health.alive
        # The inbox turns at least every poll interval; one turn may wait out a silent
        # modem's command timeouts before that modem is taken out of service.
        slowest = max((float(m.command_timeout) for m in self.settings.modems), default=30.0)
        inbox_limit = 2 * poll + 4 * slowest + 30
        return (threads_ok and now - self.main_heartbeat < 30
                and now - self.inbox_heartbeat < inbox_limit)

    def status_line(self) -> str:
        healthy = len(self.pool.healthy())
        total = len(self.pool.handles)
        sent = sum(w.sent for w in self.workers)
        sync = self.last_sync.strftime("%H:%M:%S") if self.last_sync else "never"
        return f"{healthy}/{total} modem(s) in service; {sent} sent; last bank sync {sync}"

    def run(self) -> None:
        """Serve until `stop_event` is set (by a signal handler or a test)."""
        dog = sdnotify.Watchdog(self.healthy, status_when_unhealthy="unhealthy")
        sdnotify.ready(self.status_line())
        dog.start()
        try:
            last_status = ""
            while not self.stop_event.wait(1.0):
                self.main_heartbeat = time.monotonic()
                if self.main_heartbeat >= self._snapshot_due:
                    self.write_snapshot()
                    self._snapshot_due = self.main_heartbeat + 15.0
                line = self.status_line()
                if line != last_status:
                    sdnotify.status(line)
                    last_status = line
        finally:
            sdnotify.stopping("stopping")
            dog.stop()
            self.stop()

    def stop(self) -> None:
        """Stop every worker, close the modems and the database. Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.stop_event.set()
        self._inbox_wake.set()
        self._topup_wake.set()
        self.health.wake()
        self.wake_outbox()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        for worker in self.workers:
            worker.join(10)
        for thread in self._threads:
            thread.join(10)
        self.health.join(5)
        for handle in self.pool:
            handle.close()
        if self.bank is not None:
            self.bank.close()
            self.bank = None
        if self.db is not None:
            self.db.close()
            self.db = None
        log.info("daemon stopped")


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the daemon cleanly (exit 0)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("run")
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The appliance's TOML configuration file.")
def run_command(config_path: Path) -> None:
    """Run the daemon: answer customers' SMS, send alerts and top-ups (until SIGTERM)."""
    settings = load_or_exit(config_path)
    setup_logging(str(settings.log_level))
    daemon = Daemon(settings)
    install_signal_handlers(daemon.stop_event)
    try:
        daemon.start()
    except Exception as exc:
        daemon.stop()
        log.error("%s", t("daemon.start_failed", error=exc))
        raise SystemExit(1) from exc
    daemon.run()
