"""Event metrics: what happened in this process, counted as it happens.

The flows call these plain functions where the event occurs (docs/metrics.md lists where);
each server started by `appliance.web.serve` exposes them beside the gauges it reads from
the store at scrape time. Counters start at 0 with the process, as Prometheus expects.

Labels carry short codes only (a kind, a status, a modem's configured name): `_code`
turns any value into one, so no phone or account number can ever become a label.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from prometheus_client import Counter, Histogram
from prometheus_client.registry import Collector

# Inbound stored -> reply submitted: a reply normally leaves in seconds; a minute or more
# means a slow modem or a queue (docs/metrics.md).
LATENCY_BUCKETS: Final = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)

INBOUND = Counter("appliance_inbound_total", "SMS (parts) read from a modem and stored.",
                  registry=None)
SENT = Counter("appliance_sms_sent_total", "SMS submitted to the network, by kind.",
               ["kind"], registry=None)
SEND_FAILURES = Counter("appliance_send_failures_total",
                        "Send attempts that failed, by reason (a short code).", ["reason"],
                        registry=None)
SEND_RETRIES = Counter("appliance_send_retries_total",
                       "SMS put back in the queue for another attempt.", registry=None)
RESENT = Counter("appliance_duplicates_resent_total",
                 "SMS found in 'sending' after a crash and sent again (may reach the "
                 "customer twice).", registry=None)
RECONNECTS = Counter("appliance_modem_reconnects_total",
                     "Times a modem's port was reopened after it stopped answering.",
                     ["modem"], registry=None)
BANK_ERRORS = Counter("appliance_bank_errors_total",
                      "Failed bank API requests, by kind (unavailable, timeout, http_5xx, ...).",
                      ["kind"], registry=None)
TOPUPS = Counter("appliance_topups_total", "Top-up orders finished, by status.", ["status"],
                 registry=None)
CARD_BLOCKS = Counter("appliance_card_blocks_total", "Card block requests, by status.",
                      ["status"], registry=None)
REPLY_LATENCY = Histogram("appliance_reply_latency_seconds",
                          "Seconds from an inbound SMS stored to its reply submitted.",
                          buckets=LATENCY_BUCKETS, registry=None)

ALL: Final[tuple[Collector, ...]] = (
    INBOUND, SENT, SEND_FAILURES, SEND_RETRIES, RESENT, RECONNECTS, BANK_ERRORS, TOPUPS,
    CARD_BLOCKS, REPLY_LATENCY,
)

_NOT_CODE = re.compile(r"[^a-z0-9_]+")
_DIGITS = re.compile(r"[0-9]{5,}")


def _code(value: str) -> str:
    """A label value: lower-case `[a-z0-9_]`, at most 40 characters, no digit run of 5+."""
    code = _NOT_CODE.sub("_", _DIGITS.sub("n", str(value).lower())).strip("_")
    return code[:40] or "unknown"


def inbound_stored(parts: int = 1) -> None:
    """`parts` inbound SMS parts were committed to the store."""
    INBOUND.inc(parts)


def sms_sent(kind: str) -> None:
    """One outbox message (`reply`, `topup_result`, `alert`, `refusal`) was submitted."""
    SENT.labels(kind=_code(kind)).inc()


def send_failed(reason: str) -> None:
    """A send attempt failed; `reason` is a short code (`cms_500`, `timeout`, `no_modem`)."""
    SEND_FAILURES.labels(reason=_code(reason)).inc()


def send_retried() -> None:
    """A failed message was requeued for another attempt."""
    SEND_RETRIES.inc()


def resent_after_crash(count: int = 1) -> None:
    """`count` messages found in `sending` at start were queued again (policy `resend`)."""
    RESENT.inc(count)


def modem_reconnected(modem: str) -> None:
    """The modem named `modem` (its configured name) was reopened."""
    RECONNECTS.labels(modem=_code(modem)).inc()


def bank_error(kind: str) -> None:
    """A bank request failed: `unavailable`, `timeout`, `http_503`, `bad_answer`, ..."""
    BANK_ERRORS.labels(kind=_code(kind)).inc()


def topup_finished(status: str) -> None:
    """A top-up order reached `done`, `rejected` or `failed`."""
    TOPUPS.labels(status=_code(status)).inc()


def card_block(status: str) -> None:
    """A card block request ended with `status` (`blocked`, `refused`, `failed`, ...)."""
    CARD_BLOCKS.labels(status=_code(status)).inc()


def reply_submitted(stored_at: datetime, submitted_at: datetime) -> None:
    """A reply went to the modem: observe the time since its inbound SMS was stored."""
    REPLY_LATENCY.observe(max(0.0, (submitted_at - stored_at).total_seconds()))
