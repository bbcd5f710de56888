"""What the flows count, in one place (`flows.ports.Metrics`).

Kept out of the flows so that each count stays one call in them: which kinds count as a
reply for the latency histogram, and what a crash recovery counts, are decided here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from appliance.flows.ports import SendFailed, metrics
from appliance.store.outbox import ClaimedOutbox

# Answers to a customer's own SMS: their time from the SMS stored is the reply latency.
# Top-up outcomes wait for the bank and alerts answer nothing, so they are not in it.
REPLY_KINDS = frozenset({"reply", "refusal"})


def stored(parts: int) -> None:
    """`parts` new inbound SMS parts were committed (a copy read twice counts once)."""
    if parts:
        metrics().inbound_stored(parts)


def sent(row: ClaimedOutbox, at: datetime) -> None:
    """`row` was submitted to the network at `at`."""
    m = metrics()
    m.sms_sent(row.kind)
    if row.kind in REPLY_KINDS and row.inbound_at is not None:
        m.reply_submitted(row.inbound_at, at)


def failed(exc: SendFailed) -> None:
    """One send attempt failed (retried or not)."""
    metrics().send_failed(exc.code)


def retried() -> None:
    """A failed message went back to the queue for another attempt."""
    metrics().send_retried()


def recovered(policy: str, ids: Sequence[int]) -> None:
    """Rows a crash left in `sending` were handled by `policy`; `resend` sends them again."""
    if ids and policy == "resend":
        metrics().resent_after_crash(len(ids))


def topup(state: str) -> None:
    """A top-up order reached a final state (`done`, `rejected`, `failed`)."""
    metrics().topup_finished(state)


def card_block(outcome: str) -> None:
    """A card-block request reached its outcome (`done`, `unknown_card`, `failed`)."""
    metrics().card_block(outcome)
