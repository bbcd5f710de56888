"""The gauges read from the store at scrape time (a custom prometheus-client collector).

State lives in the database, so it is read when Prometheus asks, not tracked in memory:
a restarted daemon reports the same queue it left. Labels are states, priorities and the
modems' configured names, never a phone or account number.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from appliance.web.readings import Readings

log = logging.getLogger(__name__)


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    if value is not None:
        g.add_metric([], value)
    return g


def _labelled(name: str, doc: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        g.add_metric([key], value)
    return g


def metrics_from(r: Readings) -> list[Metric]:
    """The store-derived metric families for one reading."""
    out: list[Metric] = [
        _labelled("appliance_outbox_queued", "SMS waiting to be sent, by priority.",
                  "priority", r.queued_by_priority),
        _labelled("appliance_outbox_messages", "Outbox rows by state (finished ones are "
                  "pruned after retention_days).", "state", r.outbox),
        _gauge("appliance_outbox_due", "Queued SMS whose next attempt is due now.",
               r.outbox_due),
        _gauge("appliance_outbox_oldest_queued_seconds",
               "Age of the oldest queued SMS (0 when none is queued).",
               r.oldest_queued_seconds or 0.0),
        _labelled("appliance_inbound_messages", "Inbound SMS rows by state.", "state",
                  r.inbound),
        _gauge("appliance_inbound_oldest_pending_seconds",
               "Age of the oldest inbound SMS not yet decided (0 when none).",
               r.oldest_pending_seconds or 0.0),
        _gauge("appliance_inbound_last_received_timestamp_seconds",
               "Unix time of the newest inbound SMS stored (absent before the first).",
               None if r.last_received_at is None else r.last_received_at.timestamp()),
        _gauge("appliance_bank_sync_age_seconds",
               "Seconds since the last completed bank sync (+Inf when never).",
               math.inf if r.sync_age_seconds is None else r.sync_age_seconds),
        _gauge("appliance_bank_last_sync_timestamp_seconds",
               "Unix time of the last completed bank sync (absent when never).",
               None if r.last_sync is None else r.last_sync.timestamp()),
        _labelled("appliance_topup_orders", "Top-up orders by current status (kept for ever).",
                  "status", r.topup_orders),
        _gauge("appliance_daemon_running", "1 when the daemon's health snapshot names a "
               "live process.", 1.0 if r.daemon_running else 0.0),
        _gauge("appliance_health_snapshot_age_seconds",
               "Seconds since the daemon last wrote its health snapshot.",
               r.snapshot_age_seconds),
    ]
    up = GaugeMetricFamily("appliance_modem_up", "1 when the modem answered its last health "
                           "check (and the daemon is running), else 0.", labels=["modem"])
    signal = GaugeMetricFamily("appliance_modem_signal_dbm", "Signal at the last health "
                               "check, dBm (absent when unknown).", labels=["modem"])
    registered = GaugeMetricFamily("appliance_modem_registered", "1 when registered on a "
                                   "network (home or roaming).", labels=["modem"])
    storage = GaugeMetricFamily("appliance_modem_storage_used_ratio", "Share of the SMS "
                                "storage in use (a full one receives nothing).",
                                labels=["modem"])
    seen = GaugeMetricFamily("appliance_modem_last_seen_timestamp_seconds", "Unix time the "
                             "box last saw this modem's identity.", labels=["modem"])
    for m in r.modems:
        up.add_metric([m.name], 1.0 if m.up else 0.0)
        registered.add_metric([m.name], 1.0 if m.registration in ("home", "roaming") else 0.0)
        if m.signal_dbm is not None:
            signal.add_metric([m.name], float(m.signal_dbm))
        if m.storage_used is not None and m.storage_total:
            storage.add_metric([m.name], m.storage_used / m.storage_total)
        if m.last_seen is not None:
            seen.add_metric([m.name], m.last_seen.timestamp())
    out += [up, signal, registered, storage, seen]
    return out


class StoreCollector(Collector):
    """Calls `read()` on every scrape; a store that cannot be read shows as `store_up 0`."""

    def __init__(self, read: Callable[[], Readings]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        try:
            families = metrics_from(self._read())
        except Exception:  # a locked or missing database must not break the scrape
            log.exception("metrics: cannot read the store")
            families = []
        yield _gauge("appliance_store_up", "1 when the store could be read for this scrape.",
                     1.0 if families else 0.0)
        yield from families
