"""The running appliance: modems, flows, bank and threads wired together.

Threads: one inbox worker (woken by `+CMTI`, a modem back, the first sync, and its own
timed wait), one outbox worker per modem, modem health, a top-up submitter (woken right
after a decision creates an order), delivery reports, and APScheduler for the periodic
jobs (bank sync, top-up retries, daily housekeeping). The main thread (`run`) waits for
SIGTERM/SIGINT, keeps the systemd status line current and lets the watchdog ping only
while every part is alive and turning.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
from apscheduler.schedulers.background import BackgroundScheduler

from appliance.bank.client import BankClient
from appliance.config import ModemSettings, Settings
from appliance.core.guards import RateLimit
from appliance.daemon import jobs, service
from appliance.daemon.adapters import BankPort, build_modem
from appliance.daemon.facts import ModemFactsKeeper
from appliance.daemon.workers import InboxWorker, OutboxWorker, ReportsWorker, TopupWorker
from appliance.flows.fleet import HEARTBEAT, FleetRouting, route_queued
from appliance.flows.inbound import Inbox, InboxPolicy
from appliance.flows.outbound import Outbound, OutboxPolicy, recover_interrupted
from appliance.flows.ports import use_metrics
from appliance.modem.health import Health, HealthPolicy
from appliance.modem.pool import ModemHandle, Pool
from appliance.modem.types import StatusReport
from appliance.modem.wrapper import Modem
from appliance.store import StoreError, open_database
from appliance.store.leader import BANK_SYNC, Leadership
from appliance.web import WebServer, events, serve

log = logging.getLogger(__name__)

STOP_GRACE = 10.0  # seconds a stop waits for the threads (systemd's TimeoutStopSec is 45)


def utcnow() -> datetime:
    return datetime.now(UTC)


class WebListenError(RuntimeError):
    """`[http] listen` cannot be bound (in use, no such address): start-up fails (exit 1).

    A box whose metrics are silent would look down to its monitoring, or not be watched
    at all: better to refuse to start with a line that names the key.
    """


def start_web(settings: Settings) -> WebServer:
    """Start /metrics and the status page on `http.listen`; the flows count into it."""
    listen = settings.http.listen
    try:
        web = serve(listen, settings)
    except OSError as exc:
        raise WebListenError(f"http.listen: cannot listen on {listen}: "
                             f"{exc.strerror or exc}") from exc
    use_metrics(events)
    log.info("metrics on %s, status page on %s", web.metrics_url, web.status_url)
    return web


class Daemon:
    """The running appliance. `start()`, then `run()` or `stop()`."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 health_policy: HealthPolicy | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.stop_event = threading.Event()
        self.db: peewee.Database | None = None
        self.bank_port: BankPort | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.workers: list[OutboxWorker] = []
        self.pool = Pool([], settings.rules.numbering_plan)
        # The pool's routing, with the modems of the other boxes on this database.
        self.routing = FleetRouting(
            self.pool, lambda: [(h.name, h.operator, h.healthy) for h in self.pool],
            settings.box, settings.rules.numbering_plan, clock)
        inbox_cfg = settings.inbox
        self.inbox = Inbox(
            InboxPolicy(
                rules=settings.rules,
                multipart_timeout=timedelta(seconds=float(inbox_cfg.multipart_timeout)),
                multipart_policy=str(inbox_cfg.multipart_policy),
                unknown_sender=str(settings.unknown_sender.policy),
                smsc_allow={m.name: frozenset(m.smsc_allow) for m in settings.modems},
                rate_limit=RateLimit(int(inbox_cfg.sender_per_minute),
                                     int(inbox_cfg.sender_per_hour)),
            ),
            clock,
            self.routing,
        )
        out_cfg = settings.outbox
        self.outbox_policy = OutboxPolicy(
            max_attempts=int(out_cfg.max_attempts),
            backoff=timedelta(seconds=float(out_cfg.backoff_initial)),
            backoff_max=timedelta(seconds=float(out_cfg.backoff_max)),
            on_sending=out_cfg.sending_policy,
            sending_grace=timedelta(seconds=float(out_cfg.sending_grace)),
            box=settings.box,
            lease=timedelta(seconds=float(out_cfg.lease)),
            hold=timedelta(seconds=float(out_cfg.dead_box_hold)),
        )
        self.outbound = Outbound(self.outbox_policy, clock, self.routing)
        self.facts = ModemFactsKeeper(settings, self.pool, clock)
        self.health = Health(self.pool, health_policy or HealthPolicy(), self.stop_event,
                             on_recovered=self._modem_recovered,
                             on_checked=self.facts.refresh)
        self.started_at = clock()
        self.inbox_worker = InboxWorker(self)
        self.topup_worker = TopupWorker(self)
        self.reports_worker = ReportsWorker(self.outbound, self.stop_event)
        self.main_heartbeat = service.monotonic()
        self.last_sync: datetime | None = None
        self.last_sync_error: str | None = None
        # One box of a fleet syncs the bank at a time (always this one on SQLite).
        self.sync_leader = Leadership(BANK_SYNC, "the bank sync")
        self.web: WebServer | None = None
        self._opened: set[str] = set()  # modems opened once (reopening them is a reconnect)
        self.started = False
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
        self.db = open_database(s.database_url or Path(s.database))
        self.web = start_web(s)
        recover_interrupted(self.outbox_policy, self.clock())
        for m in s.modems:
            handle = ModemHandle(m.name, m.operator, functools.partial(self._build_modem, m),
                                 on_change=self._modem_changed)
            self.pool.handles[handle.name] = handle
        b = s.bank
        if b.token_file is None:  # checked (exit 2) by the config where it is required
            raise ValueError("bank.token_file is not set")
        self.bank_port = BankPort(BankClient(
            b.url, b.token_file, ca_file=b.ca_file, connect_timeout=b.connect_timeout,
            read_timeout=b.read_timeout, retries=b.retries,
        ))
        if first_sync:
            self.sync_bank()
        self.health.open_all()
        self.heartbeat()
        route_queued(self.routing)
        for handle in self.pool:
            worker = OutboxWorker(handle, self.outbound, self.stop_event)
            self.workers.append(worker)
            worker.start()
        self.inbox_worker.start()
        self.topup_worker.start()
        self.reports_worker.start()
        self.health.start()
        self.scheduler = jobs.start_scheduler(self, sync_now=not first_sync)
        self.scheduler.add_job(self.heartbeat, "interval", id="presence",
                               seconds=HEARTBEAT.total_seconds())
        self.started = True
        self.wake_inbox()
        self.wake_topups()
        log.info("daemon started: %d modem(s), %d in service", len(self.pool.handles),
                 len(self.pool.healthy()))

    def _build_modem(self, modem_settings: ModemSettings, handle: ModemHandle) -> Modem:
        return build_modem(modem_settings, handle, on_new_message=self.message_notified,
                           on_status_report=self._status_report)

    def _status_report(self, modem: str, report: StatusReport) -> None:
        self.outbound.on_status_report(modem, int(report.ref), bool(report.delivered),
                                       recipient=report.recipient,
                                       smsc_time=report.smsc_time, ack=report.ack)

    # -- wakes -------------------------------------------------------------------------
    def wake_inbox(self) -> None:
        self.inbox_worker.wake()

    def message_notified(self, handle: ModemHandle) -> None:
        """A +CMTI from `handle`'s modem: read it before that modem's next send."""
        handle.want_inbox()
        self.inbox_worker.notice()

    def wake_outbox(self) -> None:
        for worker in self.workers:
            worker.wake()

    def wake_topups(self) -> None:
        self.topup_worker.wake()

    def _modem_changed(self, handle: ModemHandle) -> None:
        # A modem left or re-entered service: the others may now take its queue.
        self.wake_outbox()
        if not handle.healthy:
            self.health.wake()
            self.facts.modem_left(handle)

    def _modem_recovered(self, handle: ModemHandle) -> None:
        if handle.name in self._opened:  # not its first opening: a reconnect
            events.modem_reconnected(handle.name)
        self._opened.add(handle.name)
        # What reached its SIM while the port was closed (the box down, the port away)
        # came with a +CMTI nobody heard: read this modem first, before its first send,
        # as if notified. Left to the sweep, its read waited for the sends in progress
        # on every modem listed before it (issue 14: a salary day's first B's).
        self.message_notified(handle)
        self.wake_inbox()
        self.wake_outbox()
        self.facts.refresh(handle, record_identity=True)

    # -- jobs --------------------------------------------------------------------------
    @property
    def bank(self) -> BankPort:
        """The bank, once `start()` connected it."""
        if self.bank_port is None:
            raise RuntimeError("the daemon is not started")
        return self.bank_port

    def heartbeat(self) -> None:
        """Tell the other boxes on this database which modems this one has (scheduled)."""
        try:
            self.routing.heartbeat()
        except StoreError:
            pass  # the database away (the store told it once): routing goes on as it knew
        except Exception as exc:
            log.warning("modem heartbeat failed: %s", exc)

    def submit_topups(self) -> None:
        jobs.submit_topups(self)

    def perform_requests(self) -> None:
        jobs.perform_requests(self)

    def sync_bank(self) -> None:
        """One bank sync (scheduled); alerts it queues are sent at once."""
        jobs.sync_bank(self)

    def housekeeping(self) -> dict[str, int]:
        """Delete finished traffic older than `retention_days` (see `jobs.housekeeping`)."""
        return jobs.housekeeping(self)

    def bank_reachable(self) -> bool:
        """False while the last bank sync failed: balances are then answered with their
        "as of" time, and top-ups refused at once unless `bank.topup_hold_seconds` asks
        to hold them (the top-up job then waits for the bank that long)."""
        if self.settings.bank.topup_hold_seconds > 0:
            return True
        return self.last_sync_error is None

    # -- health, run, stop -------------------------------------------------------------
    @property
    def inbox_heartbeat(self) -> float:
        return self.inbox_worker.heartbeat

    def threads_alive(self) -> bool:
        return (self.inbox_worker.alive and self.topup_worker.alive
                and self.reports_worker.alive and all(w.alive for w in self.workers)
                and self.health.alive)

    def healthy(self) -> bool:
        """The watchdog's predicate: every thread alive and the loops turning."""
        return service.healthy(self)

    def status_line(self) -> str:
        return service.status_line(self)

    def write_snapshot(self) -> None:
        self.facts.write_snapshot(self.started_at)

    def run(self) -> None:
        """Serve until `stop_event` is set (by a signal handler or a test)."""
        service.run(self)

    def stop(self) -> None:
        """Stop every worker, close the modems and the database. Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.stop_event.set()
        self.inbox_worker.wake()
        self.topup_worker.wake()
        self.health.wake()
        self.wake_outbox()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        # One deadline for the whole stop, well inside systemd's TimeoutStopSec (45 s): a
        # thread stuck in a command the modem never answers (a send's timeout is minutes)
        # is left behind; what it was doing is a crash to the next start, which recovers it.
        deadline = service.monotonic() + STOP_GRACE

        def left() -> float:
            return max(0.0, deadline - service.monotonic())

        for worker in self.workers:
            worker.join(left())
        for thread in (self.inbox_worker, self.topup_worker, self.reports_worker):
            thread.join(left())
        self.health.join(min(5.0, left()))
        for handle in self.pool:
            if not handle.close(timeout=left()):
                log.warning("modem %s still in a command at stop: left to the next start",
                            handle.name)
        if self.bank_port is not None:
            self.bank_port.close()
            self.bank_port = None
        if self.web is not None:
            self.web.close()
            self.web = None
        self.sync_leader.close()
        if self.db is not None:
            self.db.close()
            self.db = None
        log.info("daemon stopped")
