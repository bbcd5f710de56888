"""The daemon as a systemd service: the watchdog's predicate, the status line, the main
loop that keeps both current. Every monotonic time the watchdog compares comes from
`monotonic()` here, so a test can move that one clock."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from appliance import sdnotify

if TYPE_CHECKING:
    from appliance.daemon.wiring import Daemon

SNAPSHOT_EVERY = 15.0  # seconds between health snapshots while nothing changes


def monotonic() -> float:
    """The clock of heartbeats and of the watchdog's verdicts."""
    return time.monotonic()


def healthy(d: Daemon) -> bool:
    """The watchdog's predicate: every thread alive and the loops turning."""
    if not d.started or d.stop_event.is_set():
        return False
    now = monotonic()
    poll = float(d.settings.inbox.poll_interval)
    threads_ok = d.threads_alive()
    # The inbox turns at least every poll interval; one turn may wait out a silent
    # modem's command timeouts before that modem is taken out of service.
    slowest = max((float(m.command_timeout) for m in d.settings.modems), default=30.0)
    inbox_limit = 2 * poll + 4 * slowest + 30
    return (threads_ok and now - d.main_heartbeat < 30
            and now - d.inbox_heartbeat < inbox_limit)


def status_line(d: Daemon) -> str:
    healthy_modems = len(d.pool.healthy())
    total = len(d.pool.handles)
    sent = sum(w.counts.sent for w in d.workers)
    sync = d.last_sync.strftime("%H:%M:%S") if d.last_sync else "never"
    return f"{healthy_modems}/{total} modem(s) in service; {sent} sent; last bank sync {sync}"


def run(d: Daemon) -> None:
    """Serve until `d.stop_event` is set (by a signal handler or a test)."""
    dog = sdnotify.Watchdog(d.healthy, status_when_unhealthy="unhealthy")
    sdnotify.ready(d.status_line())
    dog.start()
    try:
        last_status = ""
        while not d.stop_event.wait(1.0):
            d.main_heartbeat = monotonic()
            if d.facts.snapshot_due(d.main_heartbeat):
                d.facts.write_snapshot(d.started_at)
                d.facts.next_snapshot(d.main_heartbeat + SNAPSHOT_EVERY)
            line = d.status_line()
            if line != last_status:
                sdnotify.status(line)
                last_status = line
    finally:
        sdnotify.stopping("stopping")
        dog.stop()
        d.stop()
