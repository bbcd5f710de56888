"""The guards' counts (DESIGN §4): the per-sender rate limit and its one notice per window;
the agreements on SIM-swap hold and the messages rate-limited, for `status`."""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.store.db import insert_once
from appliance.store.models import Agreement, InboundMessage, RateNotice


def messages_since(phone: str, start: datetime, upto_id: int) -> int:
    """How many of `phone`'s messages received since `start` came up to inbound `upto_id`."""
    return int(InboundMessage.select().where(
        (InboundMessage.sender == phone) & (InboundMessage.received_at >= start)
        & (InboundMessage.id <= upto_id)).count())


def claim_rate_notice(phone: str, window: str, now: datetime) -> bool:
    """True the first time `phone` goes over the limit in `window` (answer it once)."""
    return insert_once(RateNotice, phone=phone, window=window, created_at=now)


def rate_limited_since(start: datetime) -> int:
    """Messages set aside by the rate limit since `start` (for `status`)."""
    return int(InboundMessage.select().where(
        (InboundMessage.outcome.in_(("rate_limited", "rate_limited:noticed")))
        & (InboundMessage.received_at >= start)).count())


def agreements_on_hold(now: datetime, hold_hours: int) -> int:
    """Active agreements whose phone's SIM changed less than `hold_hours` before `now`."""
    if hold_hours <= 0:
        return 0
    return int(Agreement.select().where(
        (Agreement.active == 1)
        & (Agreement.sim_changed_at > now - timedelta(hours=hold_hours))
        & (Agreement.sim_changed_at <= now)).count())
