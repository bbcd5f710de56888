"""Inbound flow (DESIGN §3, invariants 1 and 2): modem → database → decision → outbox.

`Inbox.collect(modem)` lists what the modem stores (SM and ME), commits every raw PDU with
its dedupe key, and only then deletes it from the modem (I1): reading a message twice is a
no-op. `Inbox.process()` takes every stored, undecided message (reassembling multi-part
ones), decides it with the pure core, and commits the decision, its replies and any top-up
order or bank request (`flows.requests`) in one transaction (I2). Both run on the inbox
worker thread only.

The modem is a port (`ports.ModemStorage`: list, delete, decode), the modems' routing
another (`ports.Routing`: the preferred modem of a reply). Named crash points
(`flows.crash`) let tests SIGKILL the process at each step: `after_read`, `after_store`,
`after_delete`, `after_decide`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import peewee

from appliance.core import commands, concat, guards
from appliance.core import decide as core_decide
from appliance.core import texts as core_texts
from appliance.core.masking import mask_text
from appliance.core.phones import mask as mask_phone
from appliance.core.phones import sender_e164
from appliance.core.rules import Rules
from appliance.core.views import OrderIntent, SenderView
from appliance.flows import confirm, guarding, tally
from appliance.flows.crash import crash_point
from appliance.flows.ports import Clock, DeliverMessage, ModemStorage, Routing
from appliance.flows.requests import stored_kind
from appliance.store import inbound as queries
from appliance.store.db import writing
from appliance.store.models import InboundMessage, database
from appliance.store.outbox import queue_replies
from appliance.store.requests import create_bank_request
from appliance.store.state import local_day
from appliance.store.topups import create_topup_order
from appliance.store.views import sender_view

log = logging.getLogger(__name__)

DECIDE_BATCH = 100  # inbound messages decided per transaction (each in its own savepoint)
# ... and at most this long (seconds) per transaction: the outbox's writes between two
# sends wait for it, and the radio with them (issue 17)
DECIDE_HOLD = 0.005


class AlreadyDecided(Exception):
    """The message was decided meanwhile by another decider; nothing of ours is kept."""


KOSOVO_PREFIX = "+383"


@dataclass(frozen=True)
class InboxPolicy:
    """The inbox's configuration."""

    rules: Rules
    multipart_timeout: timedelta
    multipart_policy: str = "answer_partial"  # decide on what arrived, or reply 'help'
    unknown_sender: str = "refuse_once_per_day"  # or 'silent'
    # modem name → the service centres it trusts for money commands (none: all)
    smsc_allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rate_limit: guards.RateLimit = field(default_factory=guards.RateLimit)


@dataclass(frozen=True)
class Decoded:
    """What the inbox needs from a decoded SMS-DELIVER."""

    sender: str | None  # E.164, or None for an alphanumeric / unusable sender
    raw_sender: str
    smsc_time: datetime | None
    text: str
    ref: int | None
    part: int | None
    total: int | None
    smsc: str | None = None


def decode(d: DeliverMessage) -> Decoded:
    """What the inbox keeps of a decoded SMS-DELIVER."""
    concat_info = d.concat
    raw_sender = str(d.sender)
    return Decoded(
        sender=sender_e164(raw_sender),
        raw_sender=raw_sender,
        smsc_time=d.smsc_time,
        text=str(d.text),
        ref=concat_info.ref if concat_info and concat_info.total > 1 else None,
        part=concat_info.seq if concat_info and concat_info.total > 1 else None,
        total=concat_info.total if concat_info and concat_info.total > 1 else None,
        smsc=d.smsc,
    )


def dedupe_key(sender: str | None, smsc_time: datetime | None, pdu_hex: str) -> str:
    """Sender, service-centre time and PDU digest (DESIGN §2.1), as the store defines it."""
    return str(queries.inbound_dedupe_key(sender, smsc_time, pdu_hex))


def idempotency_key(inbound_dedupe: str) -> str:
    """The bank's Idempotency-Key for the top-up or card block an inbound message asks
    for (I3).

    A digest, so that no phone number travels in an HTTP header.
    """
    return "sms-" + hashlib.sha256(inbound_dedupe.encode()).hexdigest()[:40]


@dataclass
class ProcessResult:
    decided: int = 0
    waiting_until: datetime | None = None  # when the earliest incomplete group expires
    orders: int = 0
    replies: int = 0
    requests: int = 0  # bank requests (STOP/START, SQ/EN/SR, BLLOKO) created


class SingleModem:
    """The routing of a box with one modem: no preference (it takes everything)."""

    def route(self, phone: str) -> str | None:
        return None

    def excluded_for(self, name: str) -> set[str]:
        return set()

    def __len__(self) -> int:
        return 1


class Inbox:
    """Stores, deletes and decides inbound messages; one instance per daemon."""

    def __init__(self, policy: InboxPolicy, clock: Clock,
                 routing: Routing | None = None) -> None:
        self.policy = policy
        self.clock = clock
        # Not `routing or …`: an empty pool (the daemon fills it at start) is falsy.
        self.routing: Routing = routing if routing is not None else SingleModem()

    # -- step 1: modem → database → delete (I1) ----------------------------------------
    def collect(self, modem: ModemStorage) -> int:
        """Store every message `modem` holds, then delete each stored one. New rows count."""
        # Only what the network delivered; outgoing messages kept on a SIM are not ours.
        stored = [m for m in modem.list_stored() if m.received]
        if not stored:
            return 0
        crash_point("after_read")
        now = self.clock()
        rows: list[queries.InboundRow] = []
        for item in stored:
            rows.append(self._row_for(modem, item.storage, item.index, item.pdu, now))
        # INSERT OR IGNORE on the dedupe key, in one write transaction: a copy read twice
        # is a no-op.
        new = queries.store_raw_inbound(rows)
        tally.stored(new)
        crash_point("after_store")
        # Committed above, so deleting now can lose nothing (together where the modem can:
        # one AT+CMGD=0,1). A failed delete leaves a copy on the modem that the next read dedupes.
        modem.delete_committed([(item.storage, item.index) for item in stored])
        crash_point("after_delete")
        if new:
            log.info("modem %s: %d new message(s) stored", modem.name, new)
        return new

    def _row_for(self, port: ModemStorage, storage: str, index: int, pdu: str,
                 now: datetime) -> queries.InboundRow:
        modem = port.name
        row: queries.InboundRow = {
            "modem": modem, "storage": storage, "storage_index": index, "pdu": pdu,
            "received_at": now,
        }
        try:
            d = decode(port.decode(pdu))
        except Exception as exc:  # undecodable: kept raw, never blocks the others
            digest = hashlib.sha256(pdu.encode()).hexdigest()[:12]
            log.error("modem %s: undecodable PDU at %s/%d (digest %s): %s",
                      modem, storage, index, digest, mask_text(str(exc)))
            row.update(dedupe_key=dedupe_key(None, None, pdu), state="undecodable",
                       outcome="undecodable")
            return row
        row.update(
            dedupe_key=dedupe_key(d.sender or d.raw_sender, d.smsc_time, pdu),
            sender=d.sender, smsc_time=d.smsc_time, text=d.text, smsc=d.smsc,
            concat_ref=d.ref, part_no=d.part, parts_total=d.total,
            group_key=queries.concat_group_key(d.sender or d.raw_sender, d.ref, d.total)
            if d.ref is not None and d.total is not None else None,
            state="stored" if d.sender else "ignored",
        )
        if not d.sender:
            row["outcome"] = "sender is not a phone number"
            log.info("modem %s: message from a non-numeric sender ignored", modem)
        return row

    # -- step 2: decide (I2) -------------------------------------------------------------
    def process(self, *, bank_reachable: bool = True) -> ProcessResult:
        """Decide every stored message whose parts are all here (or waited long enough).

        `bank_reachable` False: balances are answered with their "as of" time and
        top-ups refused at once (DESIGN §3).
        """
        result = ProcessResult()
        pending = queries.pending_inbound()
        if not pending:
            return result
        now = self.clock()
        singles = [m for m in pending if m.parts_total is None]
        parts = [
            concat.Part(m.id, m.sender, m.concat_ref, m.parts_total, m.part_no, m.text or "",
                        m.received_at)
            for m in pending if m.parts_total is not None
        ]
        by_id = {m.id: m for m in pending}
        work: list[tuple[datetime, Sequence[InboundMessage], str, bool]] = [
            (m.received_at, [m], m.text or "", False) for m in singles
        ]
        r = concat.reassemble(parts, now, self.policy.multipart_timeout)
        for g in r.complete:
            work.append((g.first_received_at, [by_id[i] for i in g.message_ids], g.text, False))
        for g in r.expired:
            answer = "help" if self.policy.multipart_policy == "help" else "what arrived"
            log.warning("multi-part message from %s: %d of %d part(s) missing after %ss; "
                        "answering %s", mask_phone(g.sender), len(g.missing), g.total,
                        int(self.policy.multipart_timeout.total_seconds()), answer)
            work.append((g.first_received_at, [by_id[i] for i in g.message_ids], g.text, True))
        waiting_ids = [i for g in r.waiting for i in g.message_ids
                       if by_id[i].state != "waiting_parts"]
        if waiting_ids:
            queries.mark_waiting_parts(waiting_ids)  # its own write transaction
        result.waiting_until = concat.next_deadline(r.waiting, self.policy.multipart_timeout)
        work.sort(key=lambda w: (w[0], w[1][0].id))
        # Decisions are committed in batches: one transaction for up to DECIDE_BATCH
        # messages or DECIDE_HOLD seconds, each message in its own savepoint, so every
        # message's state, replies and order still commit together (I2) while a burst
        # costs few commits and never holds the write lock long.
        todo = list(reversed(work))
        while todo:
            done: list[tuple[list[int], str, str, int, int, int]] = []
            with writing():
                until = time.monotonic() + DECIDE_HOLD
                for n in range(DECIDE_BATCH):
                    if not todo or (n and time.monotonic() > until):
                        break
                    _at, rows, text, incomplete = todo.pop()
                    try:
                        with database.atomic():  # a savepoint: this message alone
                            done.append(self._decide(rows, text, incomplete, now,
                                                     bank_reachable))
                    except peewee.OperationalError:
                        raise  # the database itself: leave everything for the next turn
                    except AlreadyDecided as exc:
                        # Another decider (a second process on this database) won the
                        # race from a stale list: its answer stands, ours is dropped.
                        log.info("%s", exc)
                    except Exception:
                        # A message the core cannot handle must not block the others.
                        ids = [m.id for m in rows]
                        log.exception("inbound %s: cannot be decided; set aside",
                                      ",".join(map(str, ids)))
                        queries.mark_inbound(ids, "ignored", now, outcome="error",
                                             only_undecided=True)
            for ids, sender, outcome, replies, order, request in done:
                log.info("inbound %s from %s decided: %s, %d reply(ies)%s",
                         ",".join(map(str, ids)), mask_phone(sender), outcome, replies,
                         ", top-up order" if order else ", bank request" if request else "")
                result.decided += 1
                result.replies += replies
                result.orders += order
                result.requests += request
            crash_point("after_decide")
        return result

    def _decide(self, rows: Sequence[InboundMessage], text: str, incomplete: bool,
                now: datetime, bank_reachable: bool
                ) -> tuple[list[int], str, str, int, int, int]:
        """Decide one message and write its effects (inside the caller's transaction)."""
        first = rows[0]
        sender: str = first.sender
        rules = self.policy.rules
        if incomplete and self.policy.multipart_policy == "help":
            parsed: commands.Parsed = commands.Rejection(commands.Reason.UNKNOWN_COMMAND,
                                                         "multi-part incomplete")
        else:
            parsed = commands.parse(text, rules)
        limited = self._rate_limited(rows, now)
        if limited is not None:
            return limited
        view = sender_view(sender, now, tz=rules.timezone, bank_reachable=bank_reachable,
                           with_movements=isinstance(parsed, commands.StatementQuery))
        refused_today = False
        if view is None:
            refused_today = not self._may_refuse_stranger(sender, now)
        decision = core_decide.decide(parsed, view, now, rules,
                                      stranger_refused_today=refused_today,
                                      bank_requests=True)
        replies = list(decision.replies)
        kind = "reply" if view is not None else "refusal"
        outcome = decision.outcome
        ids = [m.id for m in rows]
        # Guards (DESIGN §4): a money command through an untrusted SMSC or from a swapped
        # SIM is refused; a code for a waiting top-up; a top-up that needs one.
        hold = guarding.money_hold(view, first, text, decision, now,
                                   smsc_allow=self.policy.smsc_allow,
                                   rules=self.policy.rules)
        code = None
        if hold is not None and view is not None:
            replies = [guards.hold_text(hold, core_texts.language_of(
                view.agreement.language, rules), rules)]
            outcome = f"held:{hold}"
            decision = core_decide.Decision(tuple(replies), None, outcome)
        elif view is not None:
            code = confirm.answer_code(text, view, now, rules)
        if code is not None:
            replies, outcome = list(code[0]), code[1]
            decision = core_decide.Decision(tuple(replies), None, outcome)
        elif (decision.order is not None and view is not None
              and guards.needs_code(decision.order.amount, rules)):
            replies = [confirm.ask_for_code(
                decision.order, view, inbound_id=first.id,
                idempotency_key=idempotency_key(first.dedupe_key), now=now, rules=rules)]
            outcome = "code:asked"
            decision = core_decide.Decision(tuple(replies), None, outcome)
        elif decision.order is not None and view is not None:
            confirm.replace_waiting(view, now)  # a new request replaces a waiting one
        # Guard against deciding twice: only rows still undecided are taken.
        taken = queries.mark_handled(ids, outcome, now)
        if taken != len(ids):
            raise AlreadyDecided(f"inbound {','.join(map(str, ids))}: decided by someone else")
        queue_replies(sender, replies, kind, first.id,
                      preferred_modem=self.routing.route(sender), now=now)
        orders = code[2] if code is not None else 0
        if decision.order is not None and view is not None:
            self._create_order(decision.order, view, first, now)
            orders = 1
        requests = 0
        if decision.request is not None and view is not None:
            kind, params = stored_kind(decision.request)
            create_bank_request(idempotency_key=idempotency_key(first.dedupe_key),
                                agreement_id=view.agreement.id, inbound_id=first.id,
                                kind=kind, params=params, now=now)
            requests = 1
        return ids, sender, outcome, len(replies), orders, requests

    def _rate_limited(self, rows: Sequence[InboundMessage], now: datetime
                      ) -> tuple[list[int], str, str, int, int, int] | None:
        """A message of a phone over its rate limit is marked handled; the first one over
        it in a window gets one notice (`guarding.rate_limit`); None: within the limit."""
        first = rows[0]
        limited = guarding.rate_limit(first, now, self.policy.rate_limit, self.policy.rules)
        if limited is None:
            return None
        outcome, replies = limited
        ids = [m.id for m in rows]
        sender = str(first.sender)
        if queries.mark_handled(ids, outcome, now) != len(ids):
            raise AlreadyDecided(f"inbound {first.id}: decided by someone else")
        if replies:
            queue_replies(sender, list(replies), "reply", first.id,
                          preferred_modem=self.routing.route(sender), now=now)
        return ids, sender, outcome, len(replies), 0, 0

    def _may_refuse_stranger(self, sender: str, now: datetime) -> bool:
        """Whether a number without an agreement gets the refusal now (once a day at most)."""
        if self.policy.unknown_sender == "silent":
            return False
        if not sender.startswith(KOSOVO_PREFIX):
            # The service is for Vala and IPKO numbers: a refusal abroad costs an
            # international SMS and helps nobody; an alphanumeric sender cannot be answered.
            return False
        day = local_day(now, self.policy.rules.timezone)
        # Already refused today: stay silent (forged senders, reply loops).
        return bool(queries.claim_unknown_sender_reply(sender, day, now))

    def _create_order(self, order: OrderIntent, view: SenderView,
                      inbound: InboundMessage, now: datetime) -> None:
        create_topup_order(
            idempotency_key=idempotency_key(inbound.dedupe_key),
            agreement_id=view.agreement.id,
            inbound_id=inbound.id,
            target=order.target,
            operator=str(order.operator),
            product=str(order.product) if order.product is not None else None,
            subscriber_id=order.subscriber_id,
            amount=order.amount,
            now=now,
        )
