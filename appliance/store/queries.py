"""The reads and writes the daemon, the inbox, the outbox and `status` need, typed.

Every write is one short transaction; a read-then-write takes the write lock up front
(`db.writing` / `BEGIN IMMEDIATE`) so that its write cannot fail on a lock another
connection took after the read. The daemon's hot path (claim, sent, delivery reports,
decisions, routing) is fixed SQL in hot.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import peewee

from appliance.core.rules import Language
from appliance.core.views import AccountView, AgreementView, MovementView, SenderView
from appliance.store.db import write_transaction, writing
from appliance.store.fields import parse_utc_text, to_decimal, utc_text
from appliance.store.models import (
    INBOUND_STATES,
    OUTBOX_STATES,
    PRIORITY_ALERT,
    PRIORITY_REPLY,
    PRIORITY_TOPUP_RESULT,
    TOPUP_STATES,
    Account,
    Agreement,
    InboundMessage,
    ModemRecord,
    Movement,
    OutboxMessage,
    SyncState,
    TopupOrder,
    UnknownSenderReply,
    database,
)

SendingPolicy = Literal["resend", "fail"]

_KIND_PRIORITY: dict[str, int] = {
    "reply": PRIORITY_REPLY,
    "refusal": PRIORITY_REPLY,
    "topup_result": PRIORITY_TOPUP_RESULT,
    "alert": PRIORITY_ALERT,
}

# Orders that count against the daily cap: everything not refused or failed.
CAP_COUNTED_STATES: tuple[str, ...] = ("pending", "submitted", "done")


# SyncState keys shared by the bank sync, the daemon and `status`.
STATE_BANK_CURSOR = "bank.cursor"
STATE_LAST_SYNC_AT = "bank.last_sync_at"  # UTC time of the last complete, successful sync

DEFAULT_TIMEZONE = "Europe/Belgrade"


# --- key/value state ------------------------------------------------------------------


def get_state(key: str, default: str | None = None) -> str | None:
    """The stored value for `key` (bank cursor, last sync time, ...), or `default`."""
    row = SyncState.get_or_none(SyncState.key == key)
    return default if row is None else str(row.value)


def set_state(key: str, value: str) -> None:
    """Store `value` under `key`, replacing any previous value."""
    with database.atomic():
        SyncState.insert(key=key, value=value).on_conflict(
            conflict_target=[SyncState.key], update={SyncState.value: value}
        ).execute()


def last_sync_at() -> datetime | None:
    """When the bank sync last completed (UTC), or None if it never did."""
    value = get_state(STATE_LAST_SYNC_AT)
    return None if value is None else parse_utc_text(value)


def set_last_sync_at(when: datetime) -> None:
    """Record a completed bank sync (call it in the transaction of the last page)."""
    set_state(STATE_LAST_SYNC_AT, utc_text(when))


# --- views for the core ---------------------------------------------------------------


def agreement_view(row: Agreement) -> AgreementView:
    """The core's view of an agreement row.

    The bank sends `alert_limit = null` for "no alerts"; the view has no such value, so an
    agreement without a limit is shown without the `alerts` service.
    """
    services = row.service_set()
    limit = row.alert_limit
    if limit is None:
        services = services - {"alerts"}
    language = Language.EN if row.language == "en" else Language.SQ
    return AgreementView(
        id=str(row.id),
        phone=str(row.phone),
        customer_id=str(row.customer_id),
        language=language,
        alert_limit=limit if limit is not None else AgreementView.alert_limit,
        services=frozenset(services),
    )


def account_view(row: Account) -> AccountView:
    """The core's view of an account row (full number: the core masks it)."""
    return AccountView(
        id=str(row.id),
        kind=str(row.kind),
        number=str(row.number),
        balance=row.balance,
        currency=str(row.currency),
        as_of=row.as_of,
    )


def movement_view(row: Movement) -> MovementView:
    """The core's view of a movement row."""
    return MovementView(
        id=str(row.id),
        account_id=str(row.account_id),
        amount=row.amount,
        type=str(row.type),
        booked_at=row.booked_at,
        balance_after=row.balance_after,
    )


def local_day_start(now: datetime, tz: str = DEFAULT_TIMEZONE) -> datetime:
    """The start of `now`'s local day (in `tz`), as an aware UTC-comparable datetime."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def local_day(now: datetime, tz: str = DEFAULT_TIMEZONE) -> str:
    """`now`'s local date as `YYYY-MM-DD` (the day of the daily cap and of refusals)."""
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def sender_view(
    phone: str, now: datetime, *, tz: str = DEFAULT_TIMEZONE, bank_reachable: bool = True
) -> SenderView | None:
    """What the core may know about `phone` (E.164), or None without an active agreement.

    An inactive agreement is treated as none at all: such a number never gets account
    data (I7). Today's top-ups count the orders created since local midnight in `tz`
    that were not refused or failed.
    """
    agreement = Agreement.get_or_none((Agreement.phone == phone) & (Agreement.active == 1))
    if agreement is None:
        return None
    accounts = (
        Account.select()
        .where(Account.customer == agreement.customer_id)
        .order_by(Account.kind, Account.id)
    )
    count, amount = topups_since(str(agreement.id), local_day_start(now, tz))
    return SenderView(
        agreement=agreement_view(agreement),
        accounts=tuple(account_view(a) for a in accounts),
        last_sync_at=last_sync_at(),
        topups_today_count=count,
        topups_today_amount=amount,
        bank_reachable=bank_reachable,
    )


def agreements_for_account(account_id: str) -> list[AgreementView]:
    """The active agreements of the account's customer (whose phones may get its alerts)."""
    account = Account.get_or_none(Account.id == account_id)
    if account is None:
        return []
    rows = (
        Agreement.select()
        .where((Agreement.customer == account.customer_id) & (Agreement.active == 1))
        .order_by(Agreement.id)
    )
    return [agreement_view(r) for r in rows]


# --- inbound --------------------------------------------------------------------------


def inbound_dedupe_key(sender: str | None, smsc_time: datetime | None, pdu_hex: str) -> str:
    """DESIGN §2.1's key: sender, service-centre time and the PDU's SHA-256.

    The same PDU read twice gives the same key; a second identical text sent a minute
    later carries another service-centre time and so another key.
    """
    digest = hashlib.sha256(pdu_hex.strip().upper().encode("ascii")).hexdigest()
    when = utc_text(smsc_time) if smsc_time is not None else "-"
    return f"{sender or '-'}|{when}|{digest}"


def concat_group_key(sender: str | None, ref: int, total: int) -> str:
    """The group of a concatenated part (same as `core.concat.Group.key`)."""
    return f"{sender or '-'}|{ref}|{total}"


def store_inbound(
    *,
    modem: str,
    pdu: str,
    sender: str | None,
    smsc_time: datetime | None,
    received_at: datetime,
    storage: str | None = None,
    storage_index: int | None = None,
    text: str | None = None,
    concat_ref: int | None = None,
    part_no: int | None = None,
    parts_total: int | None = None,
    state: str = "stored",
    outcome: str | None = None,
) -> tuple[InboundMessage, bool]:
    """Commit one raw PDU (I1); returns (row, created). A second copy returns the first row."""
    if state not in INBOUND_STATES:
        raise ValueError(f"unknown inbound state {state!r}")
    key = inbound_dedupe_key(sender, smsc_time, pdu)
    group = (
        concat_group_key(sender, concat_ref, parts_total)
        if concat_ref is not None and parts_total is not None
        else None
    )
    # IMMEDIATE: take the write lock before looking, so look-then-insert cannot race.
    with database.atomic(lock_type="IMMEDIATE"):
        existing: InboundMessage | None = InboundMessage.get_or_none(
            InboundMessage.dedupe_key == key
        )
        if existing is not None:
            return existing, False
        row: InboundMessage = InboundMessage.create(
            dedupe_key=key,
            modem=modem,
            storage=storage,
            storage_index=storage_index,
            pdu=pdu,
            sender=sender,
            smsc_time=smsc_time,
            received_at=received_at,
            text=text,
            concat_ref=concat_ref,
            part_no=part_no,
            parts_total=parts_total,
            group_key=group,
            state=state,
            outcome=outcome,
        )
    return row, True


def store_raw_inbound(rows: Sequence[Mapping[str, Any]]) -> int:
    """Commit raw inbound rows (I1) in one write transaction; returns how many were new.

    INSERT OR IGNORE on the dedupe key: a copy read twice is a no-op. Rows may name
    different columns (an undecodable PDU has no sender); a column a row lacks is NULL.
    """
    if not rows:
        return 0
    keys = sorted({k for row in rows for k in row})
    uniform = [{k: row.get(k) for k in keys} for row in rows]
    with writing():
        return int(InboundMessage.insert_many(uniform).on_conflict_ignore()
                   .as_rowcount().execute())


def pending_inbound() -> list[InboundMessage]:
    """Every inbound row still to be decided (`stored` or `waiting_parts`), oldest id first."""
    return list(
        InboundMessage.select()
        .where(InboundMessage.state.in_(("stored", "waiting_parts")))
        .order_by(InboundMessage.id)
    )


def mark_waiting_parts(ids: Sequence[int]) -> int:
    """Mark inbound rows `waiting_parts` (one write transaction); returns rows changed."""
    if not ids:
        return 0
    with writing():  # queued behind the other writers, never "database is locked"
        return int(InboundMessage.update(state="waiting_parts").where(
            InboundMessage.id.in_(list(ids))).execute())


def mark_inbound(
    ids: Sequence[int], state: str, now: datetime, outcome: str | None = None, *,
    only_undecided: bool = False,
) -> int:
    """Set the state (and outcome) of inbound rows; `handled_at` is set for final states.

    Call it inside the caller's `database.atomic()` together with the replies and the
    order the message causes (I2); nested, it joins that transaction. With
    `only_undecided`, rows another decider already finished are left as they are.
    """
    if state not in INBOUND_STATES:
        raise ValueError(f"unknown inbound state {state!r}")
    final = state in ("handled", "ignored", "undecodable")
    which = InboundMessage.id.in_(list(ids))
    if only_undecided:
        which &= InboundMessage.state.in_(("stored", "waiting_parts"))
    with database.atomic():
        return int(
            InboundMessage.update(
                state=state,
                outcome=outcome,
                handled_at=now if final else None,
            )
            .where(which)
            .execute()
        )


# --- outbox ---------------------------------------------------------------------------


def enqueue_outbox(
    to: str,
    text: str,
    kind: str,
    now: datetime,
    *,
    priority: int | None = None,
    dedupe_key: str | None = None,
    inbound_id: int | None = None,
    preferred_modem: str | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage | None:
    """Queue one SMS; returns the row, or None when `dedupe_key` was already queued (I4).

    The priority defaults from the kind: replies and refusals 0, top-up outcomes 10,
    alerts 20.
    """
    if kind not in _KIND_PRIORITY:
        raise ValueError(f"unknown outbox kind {kind!r}")
    values: dict[str, Any] = {
        "to": to,
        "text": text,
        "kind": kind,
        "priority": _KIND_PRIORITY[kind] if priority is None else priority,
        "state": "queued",
        "dedupe_key": dedupe_key,
        "inbound": inbound_id,
        "preferred_modem": preferred_modem,
        "next_attempt_at": not_before,
        "created_at": now,
    }
    with database.atomic(lock_type="IMMEDIATE"):
        if dedupe_key is not None and OutboxMessage.get_or_none(
            OutboxMessage.dedupe_key == dedupe_key
        ) is not None:
            return None
        row: OutboxMessage = OutboxMessage.create(**values)
    return row


def _update_outbox(message_id: int, from_states: tuple[str, ...], **values: Any) -> None:
    # The daemon's writers queue for the lock (writing), like the hot path (hot.py).
    with writing():
        changed = (
            OutboxMessage.update(**values)
            .where((OutboxMessage.id == message_id) & OutboxMessage.state.in_(from_states))
            .execute()
        )
    if not changed:
        raise LookupError(f"outbox message {message_id} is not in state {'/'.join(from_states)}")


def mark_failed(message_id: int, error: str, now: datetime) -> None:
    """Give up on a message (from queued or sending): state failed, with the reason."""
    del now  # kept in the signature for symmetry and future use (a failed_at column)
    _update_outbox(message_id, ("queued", "sending"), state="failed", last_error=error)


def requeue(message_id: int, next_at: datetime, error: str) -> None:
    """sending → queued after a transient failure; due again at `next_at`."""
    _update_outbox(
        message_id, ("sending",), state="queued", next_attempt_at=next_at, last_error=error
    )


def mark_delivered(modem: str, ref: int, now: datetime) -> OutboxMessage | None:
    """Match a delivery report (+CDS) to the latest sent message with that reference.

    A multi-part message becomes `delivered` when every part's report has arrived.
    Returns the matched row (None when nothing matches: references wrap at 256).
    """
    ref_text = str(int(ref))
    # Read-then-write: take the write lock first, or the write after the read can fail
    # with "database is locked" when another connection wrote in between.
    with writing():
        candidates = (
            OutboxMessage.select()
            .where(
                (OutboxMessage.modem == modem)
                & (OutboxMessage.state == "sent")
                & (
                    (OutboxMessage.modem_refs == ref_text)
                    | OutboxMessage.modem_refs.startswith(ref_text + ",")
                    | OutboxMessage.modem_refs.endswith("," + ref_text)
                    | OutboxMessage.modem_refs.contains("," + ref_text + ",")
                )
            )
            .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        )
        for row in candidates:
            refs = [r for r in str(row.modem_refs).split(",") if r]
            if ref_text not in refs:
                continue
            got = {r for r in str(row.delivered_refs or "").split(",") if r}
            got.add(ref_text)
            values: dict[str, Any] = {"delivered_refs": ",".join(sorted(got, key=int))}
            if set(refs) <= got:
                values.update(state="delivered", delivered_at=now)
            OutboxMessage.update(**values).where(OutboxMessage.id == row.id).execute()
            matched: OutboxMessage = OutboxMessage.get_by_id(row.id)
            return matched
    return None


def sending_recipients() -> dict[int, str]:
    """Recipient of every outbox row in `sending`, by id (to log a crash's leftovers)."""
    return {
        int(r.id): str(r.to)
        for r in OutboxMessage.select(OutboxMessage.id, OutboxMessage.to).where(
            OutboxMessage.state == "sending"
        )
    }


def recover_sending(policy: SendingPolicy, now: datetime) -> list[int]:
    """After a crash: rows left in `sending` are requeued ('resend') or failed ('fail').

    Returns their ids, for the caller to log (I5: resending is an explicit policy).
    """
    with writing():  # read-then-write: take the write lock first
        ids = [
            int(r.id)
            for r in OutboxMessage.select(OutboxMessage.id).where(
                OutboxMessage.state == "sending"
            )
        ]
        if ids:
            if policy == "resend":
                OutboxMessage.update(
                    state="queued",
                    next_attempt_at=now,
                    last_error="interrupted while sending; resent by policy",
                ).where(OutboxMessage.id.in_(ids)).execute()
            elif policy == "fail":
                OutboxMessage.update(
                    state="failed", last_error="interrupted while sending; failed by policy"
                ).where(OutboxMessage.id.in_(ids)).execute()
            else:
                raise ValueError(f"unknown sending policy {policy!r}")
    return ids


# --- top-ups --------------------------------------------------------------------------


def topups_since(agreement_id: str, since: datetime) -> tuple[int, Decimal]:
    """Count and sum of the agreement's top-ups since `since` that count against the cap."""
    rows = TopupOrder.select(TopupOrder.amount).where(
        (TopupOrder.agreement == agreement_id)
        & (TopupOrder.created_at >= since)
        & TopupOrder.state.in_(CAP_COUNTED_STATES)
    )
    amounts = [to_decimal(r.amount) for r in rows]
    return len(amounts), sum(amounts, Decimal(0))


def due_topup_ids(states: Sequence[str], now: datetime, limit: int) -> list[int]:
    """Ids of orders in one of `states` that are due at `now` (no `next_attempt_at`, or
    one not after `now`), oldest id first, at most `limit`."""
    rows = (
        TopupOrder.select(TopupOrder.id)
        .where(
            TopupOrder.state.in_(list(states))
            & (TopupOrder.next_attempt_at.is_null() | (TopupOrder.next_attempt_at <= now))
        )
        .order_by(TopupOrder.id)
        .limit(limit)
    )
    return [int(row.id) for row in rows]


def due_failed_topup_ids(reason: str, now: datetime, limit: int) -> list[int]:
    """Ids of `failed` orders with exactly this `reason` that are due at `now`, oldest id
    first, at most `limit` (orders whose outcome is still to be resolved with the bank)."""
    rows = (
        TopupOrder.select(TopupOrder.id)
        .where(
            (TopupOrder.state == "failed") & (TopupOrder.reason == reason)
            & (TopupOrder.next_attempt_at.is_null() | (TopupOrder.next_attempt_at <= now))
        )
        .order_by(TopupOrder.id)
        .limit(limit)
    )
    return [int(row.id) for row in rows]


def topup_order(order_id: int) -> TopupOrder:
    """The order `order_id` (raises `TopupOrder.DoesNotExist` when absent)."""
    row: TopupOrder = TopupOrder.get_by_id(order_id)
    return row


def topup_order_in(order_id: int, states: Sequence[str]) -> TopupOrder | None:
    """The order `order_id` while it is in one of `states`, else None."""
    row: TopupOrder | None = TopupOrder.get_or_none(
        (TopupOrder.id == order_id) & TopupOrder.state.in_(list(states)))
    return row


def claim_topup_order(order_id: int, states: Sequence[str], now: datetime) -> TopupOrder | None:
    """One of `states` → `submitted`, one attempt more; the claimed row, or None when the
    order is no longer in `states`. Run it inside the caller's write transaction."""
    claimed = (
        TopupOrder.update(state="submitted", attempts=TopupOrder.attempts + 1, updated_at=now)
        .where((TopupOrder.id == order_id) & TopupOrder.state.in_(list(states)))
        .execute()
    )
    if not claimed:
        return None
    row: TopupOrder = TopupOrder.get_by_id(order_id)
    return row


def postpone_topup(order_id: int, next_attempt_at: datetime, now: datetime, *,
                   attempts: int | None = None, states: Sequence[str] | None = None) -> int:
    """Make the order due again at `next_attempt_at` (and set its `attempts`, when given),
    only while in one of `states` when given; returns rows changed."""
    values: dict[str, Any] = {"next_attempt_at": next_attempt_at, "updated_at": now}
    if attempts is not None:
        values = {"attempts": attempts, **values}
    which = TopupOrder.id == order_id
    if states is not None:
        which &= TopupOrder.state.in_(list(states))
    return int(TopupOrder.update(**values).where(which).execute())


def finish_topup(
    order_id: int, *, state: str, reason: str | None, bank_id: str | None,
    balance_after: Decimal | None, next_attempt_at: datetime | None, now: datetime,
    states: Sequence[str] = (), failed_reason: str | None = None,
) -> int:
    """Record an order's outcome; returns rows changed (0: someone else finished it).

    Guarded: the order must be in one of `states`, or, with `failed_reason`, `failed`
    with exactly that reason. Run it inside the caller's write transaction, with the
    customer's reply.
    """
    values: dict[str, Any] = {
        "state": state, "reason": reason, "balance_after": balance_after, "bank_id": bank_id,
        "next_attempt_at": next_attempt_at, "updated_at": now,
    }
    return int(TopupOrder.update(**values).where(
        _topup_guard(order_id, states, failed_reason)).execute())


def note_topup_not_done(order_id: int, failed_reason: str, reason: str,
                        bank_id: str | None, now: datetime) -> int:
    """A `failed` order with `failed_reason` that the bank confirms was not done: its
    reason becomes `reason` and it is no longer due; returns rows changed."""
    return int(TopupOrder.update(
        reason=reason, bank_id=bank_id, next_attempt_at=None, updated_at=now,
    ).where(_topup_guard(order_id, (), failed_reason)).execute())


def _topup_guard(order_id: int, states: Sequence[str], failed_reason: str | None) -> Any:
    if failed_reason is not None:
        return (TopupOrder.id == order_id) & (TopupOrder.state == "failed") & (
            TopupOrder.reason == failed_reason)
    return (TopupOrder.id == order_id) & TopupOrder.state.in_(list(states))


def apply_topup_balance(agreement_id: str, balance: Decimal, as_of: datetime) -> int:
    """Set the bank's `balance_after` of a done top-up on the account the bank debited, as
    of `as_of` (when the bank's answer came); returns rows changed.

    The debited account is the contract's (docs/bank-api.md): the customer's current
    account, else their business account. An account already known as of a later time
    keeps its newer balance, and a sync page older than `as_of` cannot move this one back
    (the sync's upsert only moves `as_of` forward). Run it inside the caller's write
    transaction, with the order's outcome.
    """
    agreement: Agreement | None = Agreement.get_or_none(Agreement.id == agreement_id)
    if agreement is None:
        return 0
    debited: Account | None = (
        Account.select()
        .where((Account.customer == agreement.customer_id)
               & Account.kind.in_(("current", "business")))
        .order_by(peewee.Case(Account.kind, (("current", 0),), 1), Account.id)
        .first()
    )
    if debited is None:
        return 0
    return int(Account.update(balance=balance, as_of=as_of).where(
        (Account.id == debited.id) & (Account.as_of <= as_of)).execute())


def agreement_by_id(agreement_id: str) -> Agreement:
    """The agreement row `agreement_id` (raises `Agreement.DoesNotExist` when absent)."""
    row: Agreement = Agreement.get_by_id(agreement_id)
    return row


def queue_topup_reply(to: str, text: str, inbound_id: int | None, key: str,
                      now: datetime) -> None:
    """Queue a top-up outcome SMS once per `key` (INSERT OR IGNORE; I4), inside the
    caller's write transaction with the order's outcome."""
    OutboxMessage.insert(
        to=to, text=text, kind="topup_result", priority=PRIORITY_TOPUP_RESULT,
        state="queued", dedupe_key=key, inbound=inbound_id, created_at=now,
    ).on_conflict_ignore().execute()


def create_topup_order(
    *, idempotency_key: str, agreement_id: str, inbound_id: int, target: str, operator: str,
    product: str | None, subscriber_id: str | None, amount: Decimal, now: datetime,
) -> None:
    """Insert a `pending` top-up order; a second one with the same key is a no-op (I3).

    Run it inside the caller's write transaction, with the inbound decision (I2).
    """
    TopupOrder.insert(
        idempotency_key=idempotency_key,
        agreement=agreement_id,
        inbound=inbound_id,
        target=target,
        operator=operator,
        product=product,
        subscriber_id=subscriber_id,
        amount=amount,
        created_at=now,
        updated_at=now,
    ).on_conflict_ignore().execute()


# --- unknown senders and modems -------------------------------------------------------


def claim_unknown_sender_reply(phone: str, day: str, now: datetime) -> bool:
    """True the first time this phone is seen on this local `day` (send the refusal once).

    Nested in the caller's transaction it is a savepoint, so a False leaves that intact.
    """
    try:
        with database.atomic():
            UnknownSenderReply.create(phone=phone, day=day, created_at=now)
    except peewee.IntegrityError:
        return False
    return True


def record_modem_identity(
    name: str, imsi: str | None, imei: str | None, now: datetime
) -> str | None:
    """Remember the modem's SIM (IMSI) and IMEI; returns the IMSI seen before (or None).

    Read-then-write, so it takes SQLite's write lock first; `write_transaction`, not
    `writing`, because the daemon calls it inside its own `write_transaction()`.
    """
    with write_transaction():
        previous = ModemRecord.get_or_none(ModemRecord.name == name)
        ModemRecord.insert(name=name, imsi=imsi, imei=imei, last_seen=now).on_conflict(
            conflict_target=[ModemRecord.name],
            update={ModemRecord.imsi: imsi, ModemRecord.imei: imei, ModemRecord.last_seen: now},
        ).execute()
    return None if previous is None else previous.imsi


# --- status ---------------------------------------------------------------------------


def counts_for_status(now: datetime) -> dict[str, int]:
    """Counts for `appliance status`, flat keys like `outbox.queued`, `inbound.waiting_parts`.

    Every state is present (0 when empty). Extra keys: `outbox.due` (queued and due now),
    `outbox.oldest_queued_seconds` (age of the oldest queued message, 0 when none).
    """
    counts: dict[str, int] = {}
    for prefix, model, states in (
        ("outbox", OutboxMessage, OUTBOX_STATES),
        ("inbound", InboundMessage, INBOUND_STATES),
        ("topups", TopupOrder, TOPUP_STATES),
    ):
        for state in states:
            counts[f"{prefix}.{state}"] = 0
        query = model.select(model.state, peewee.fn.COUNT(model.id).alias("n")).group_by(
            model.state
        )
        for row in query:
            counts[f"{prefix}.{row.state}"] = int(row.n)
    due = OutboxMessage.next_attempt_at.is_null() | (OutboxMessage.next_attempt_at <= now)
    counts["outbox.due"] = (
        OutboxMessage.select().where((OutboxMessage.state == "queued") & due).count()
    )
    oldest_row = (
        OutboxMessage.select(OutboxMessage.created_at)
        .where(OutboxMessage.state == "queued")
        .order_by(OutboxMessage.created_at)
        .first()
    )
    oldest = None if oldest_row is None else oldest_row.created_at
    counts["outbox.oldest_queued_seconds"] = (
        max(0, int((now - oldest).total_seconds())) if isinstance(oldest, datetime) else 0
    )
    return counts


def oldest_inbound_at(states: Sequence[str]) -> datetime | None:
    """When the oldest inbound message in one of `states` arrived, or None."""
    oldest: datetime | str | None = (
        InboundMessage.select(peewee.fn.MIN(InboundMessage.received_at))
        .where(InboundMessage.state.in_(states)).scalar())
    if isinstance(oldest, str):  # MIN() hands back the stored text, not the field's value
        return InboundMessage.received_at.python_value(oldest)
    return oldest


def traffic_since(start: datetime) -> tuple[int, int]:
    """(messages received, messages sent) since `start`."""
    received = InboundMessage.select().where(InboundMessage.received_at >= start).count()
    sent = (OutboxMessage.select()
            .where(OutboxMessage.sent_at.is_null(False) & (OutboxMessage.sent_at >= start))
            .count())
    return int(received), int(sent)


def modem_records() -> dict[str, ModemRecord]:
    """Every modem this box has seen (identity and last sighting), by name."""
    return {str(r.name): r for r in ModemRecord.select()}


# --- housekeeping ---------------------------------------------------------------------


def prune(before: datetime) -> dict[str, int]:
    """Delete finished traffic older than `before`; returns rows deleted per table.

    Removed: outbox rows that are sent, delivered or failed; inbound rows that were
    decided (handled, ignored, undecodable) and that no remaining outbox row or any
    top-up order points to; once-a-day refusal markers. Kept for ever: top-up orders
    (money), movements (they tell the sync which movements were already alerted),
    and anything still in flight.
    """
    with database.atomic(lock_type="IMMEDIATE"):
        outbox = (
            OutboxMessage.delete()
            .where(
                OutboxMessage.state.in_(("sent", "delivered", "failed"))
                & (OutboxMessage.created_at < before)
            )
            .execute()
        )
        referenced_by_outbox = OutboxMessage.select(OutboxMessage.inbound).where(
            OutboxMessage.inbound.is_null(False)
        )
        referenced_by_orders = TopupOrder.select(TopupOrder.inbound).where(
            TopupOrder.inbound.is_null(False)
        )
        inbound = (
            InboundMessage.delete()
            .where(
                InboundMessage.state.in_(("handled", "ignored", "undecodable"))
                & (InboundMessage.received_at < before)
                & InboundMessage.id.not_in(referenced_by_outbox)
                & InboundMessage.id.not_in(referenced_by_orders)
            )
            .execute()
        )
        refusals = (
            UnknownSenderReply.delete().where(UnknownSenderReply.created_at < before).execute()
        )
    return {"outbox": int(outbox), "inbound": int(inbound), "unknown_sender": int(refusals)}
