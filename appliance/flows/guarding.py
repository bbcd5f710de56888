"""The inbound flow's guards against forged or flooding senders (DESIGN §2 invariant 9, §4):
the per-sender rate limit and the hold on money commands (untrusted service centre, a
recently changed SIM). The rules are the core's (`core.guards`); this module reads the
store for them and logs what they refuse, with every number masked."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from appliance.core import decide as core_decide
from appliance.core import guards
from appliance.core import texts as core_texts
from appliance.core.phones import mask as mask_phone
from appliance.core.rules import Rules
from appliance.core.views import SenderView
from appliance.flows import confirm
from appliance.store import guards as guard_store
from appliance.store.models import InboundMessage
from appliance.store.views import sender_view

log = logging.getLogger("appliance.flows.inbound")


def rate_limit(first: InboundMessage, now: datetime, limit: guards.RateLimit, rules: Rules
               ) -> tuple[str, tuple[str, ...]] | None:
    """(outcome, replies) for a message of a phone over its rate limit, None within it.

    The first message over the limit in a window gets one notice; the rest none.
    """
    sender = str(first.sender)
    counts = [(name, start, guard_store.messages_since(sender, start, int(first.id)))
              for name, start in guards.rate_windows(first.received_at)]
    over = guards.rate_exceeded(counts[0][2], counts[1][2], limit)
    if over is None:
        return None
    start = next(s for name, s, _ in counts if name == over)
    view = sender_view(sender, now, tz=rules.timezone)
    # A number without an agreement gets no notice: strangers already get at most one
    # refusal a day, and a forged flood must not buy more SMS than that.
    notice = view is not None and guard_store.claim_rate_notice(
        sender, f"{over}:{start.isoformat()}", now)
    if not notice or view is None:
        return "rate_limited", ()
    lang = core_texts.language_of(view.agreement.language, rules)
    log.warning("sender %s over the %s rate limit: answered once, then ignored",
                mask_phone(sender), over)
    return "rate_limited:noticed", (core_texts.sms("rate_limited", lang, rules),)


def money_hold(view: SenderView | None, first: InboundMessage, text: str,
               decision: core_decide.Decision, now: datetime, *,
               smsc_allow: Mapping[str, frozenset[str]], rules: Rules) -> guards.Hold | None:
    """Why this message's money command (top-up, product, code) is refused, or None."""
    if view is None or (decision.order is None and not confirm.is_code_for(text, view)):
        return None
    allow = smsc_allow.get(str(first.modem), frozenset())
    smsc_ok = guards.smsc_trusted(first.smsc, allow)
    hold = guards.money_hold(smsc_ok=smsc_ok, sim_changed_at=view.agreement.sim_changed_at,
                             now=now, rules=rules)
    if hold is guards.Hold.SMSC:
        log.warning("inbound %d from %s: money command through untrusted service centre "
                    "%s refused", first.id, mask_phone(first.sender),
                    mask_phone(first.smsc or "?"))
    elif hold is not None:
        log.warning("inbound %d from %s: money command refused, SIM changed recently",
                    first.id, mask_phone(first.sender))
    return hold
