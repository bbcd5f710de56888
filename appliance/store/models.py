"""The appliance's tables: bank data synced locally, inbound and outbound SMS, top-up orders.

Models bind to `database` (a `peewee.DatabaseProxy`); `open_database` initialises it.
Money columns are `MoneyField` (TEXT holding the Decimal exactly); times are
`UTCDateTimeField` (timezone-aware UTC). The schema itself is created by the ordered
migrations in `store/migrations.py`, never by `create_tables`, so that a box upgraded in
the field keeps its data; a test checks that these models and the migrated schema agree.
"""

from __future__ import annotations

from typing import Final

import peewee

from appliance.store.fields import FlagField, MoneyField, UTCDateTimeField

database: Final = peewee.DatabaseProxy()

# Enumerations, kept here as data so the migrations' CHECK constraints and the code agree.
LANGUAGES: Final = ("sq", "en", "sr")
SERVICES: Final = ("balance", "topup", "alerts")
ACCOUNT_KINDS: Final = ("current", "business", "savings")
INBOUND_STATES: Final = ("stored", "waiting_parts", "handled", "ignored", "undecodable")
OUTBOX_KINDS: Final = ("reply", "topup_result", "alert", "refusal")
OUTBOX_STATES: Final = ("queued", "sending", "sent", "delivered", "failed")
TOPUP_STATES: Final = ("pending", "submitted", "done", "rejected", "failed")
CARD_STATES: Final = ("active", "blocked")
# A bank request (STOP/START, SQ/EN/SR, BLLOKO): its kinds and states (flows/requests.py).
REQUEST_KINDS: Final = ("alerts", "language", "card_block")
REQUEST_STATES: Final = ("pending", "submitted", "done", "failed")

# Outbox priorities: lower goes first (internals.md).
PRIORITY_REPLY: Final = 0
PRIORITY_TOPUP_RESULT: Final = 10
PRIORITY_ALERT: Final = 20


class BaseModel(peewee.Model):  # type: ignore[misc]
    class Meta:
        database = database
        legacy_table_names = False


class Customer(BaseModel):
    """A bank customer (private person or business), keyed by the bank's id."""

    id = peewee.CharField(primary_key=True)
    name = peewee.CharField()
    updated_at = UTCDateTimeField(null=True)


class Agreement(BaseModel):
    """An SMS-banking agreement: binds one phone (E.164) to a customer and its services."""

    id = peewee.CharField(primary_key=True)
    customer = peewee.ForeignKeyField(Customer, backref="agreements", column_name="customer_id")
    phone = peewee.CharField(unique=True)  # E.164, e.g. +38344123456
    language = peewee.CharField(default="sq")  # LANGUAGES
    alert_limit = MoneyField(null=True)  # None: no alert limit set
    services = peewee.CharField(default="balance,topup,alerts")  # comma list of SERVICES
    active = FlagField(default=True)
    updated_at = UTCDateTimeField(null=True)
    alerts_enabled = FlagField(default=True)  # False after the customer's STOP
    # When alerts were last turned on again: movements booked before are never alerted.
    alerts_since = UTCDateTimeField(null=True)
    sim_changed_at = UTCDateTimeField(null=True)  # the bank's last SIM change (SIM-swap hold)

    def service_set(self) -> frozenset[str]:
        """The services as a set (`services` is stored as a comma list)."""
        return frozenset(s.strip() for s in str(self.services).split(",") if s.strip())


class Account(BaseModel):
    """An account of a customer; `number` is the full number, masked only on output."""

    id = peewee.CharField(primary_key=True)
    customer = peewee.ForeignKeyField(Customer, backref="accounts", column_name="customer_id")
    kind = peewee.CharField()  # 'current' | 'business' | 'savings'
    number = peewee.CharField()
    currency = peewee.CharField(default="EUR")
    balance = MoneyField()
    as_of = UTCDateTimeField()


class Movement(BaseModel):
    """A booked account movement (bank-unique id); the source of alerts."""

    id = peewee.CharField(primary_key=True)
    account = peewee.ForeignKeyField(Account, backref="movements", column_name="account_id")
    amount = MoneyField()  # signed: negative is a debit
    type = peewee.CharField()
    booked_at = UTCDateTimeField()
    balance_after = MoneyField(null=True)
    synced_at = UTCDateTimeField(null=True)


class InboundMessage(BaseModel):
    """One SMS (or one part of a concatenated SMS) read from a modem, kept as its raw PDU.

    `dedupe_key` is `inbound_dedupe_key(sender, smsc_time, pdu_hex)` (DESIGN §2.1): the same
    PDU read twice is a no-op, while a genuine second `B` a minute later has another
    service-centre time and is new.
    """

    id = peewee.AutoField()
    dedupe_key = peewee.CharField(unique=True)
    modem = peewee.CharField()  # name of the modem it was read from
    storage = peewee.CharField(null=True)  # 'SM', 'ME', ... where the modem kept it
    storage_index = peewee.IntegerField(null=True)  # its index in that storage
    pdu = peewee.TextField()  # hex, as +CMGL/+CMGR gave it (SMSC address included)
    sender = peewee.CharField(null=True)  # E.164 when it is a number; None when undecodable
    smsc_time = UTCDateTimeField(null=True)
    received_at = UTCDateTimeField()
    text = peewee.TextField(null=True)  # decoded text of this part
    concat_ref = peewee.IntegerField(null=True)
    part_no = peewee.IntegerField(null=True)  # 1-based
    parts_total = peewee.IntegerField(null=True)
    group_key = peewee.CharField(null=True, index=True)  # sender + concat ref, for multipart
    state = peewee.CharField(default="stored")  # INBOUND_STATES
    handled_at = UTCDateTimeField(null=True)
    outcome = peewee.TextField(null=True)  # what was decided (short, no personal data)
    smsc = peewee.CharField(null=True)  # the service centre the PDU names (smsc_allow)


class OutboxMessage(BaseModel):
    """One SMS to send (possibly several segments); `queued → sending → sent → delivered`.

    `preferred_modem` is a routing hint set when queueing (the modem of the recipient's
    operator; None = any); `modem` is the modem that actually took it (set on claim).
    """

    id = peewee.AutoField()
    to = peewee.CharField()  # E.164
    text = peewee.TextField()
    kind = peewee.CharField()  # OUTBOX_KINDS
    priority = peewee.IntegerField(default=PRIORITY_REPLY)
    state = peewee.CharField(default="queued")  # OUTBOX_STATES
    # alerts: 'alert:<movement>:<phone>'; replies: 'reply:<inbound id>:<n>'
    dedupe_key = peewee.CharField(unique=True, null=True)
    inbound = peewee.ForeignKeyField(
        InboundMessage, backref="replies", null=True, column_name="inbound_id"
    )
    preferred_modem = peewee.CharField(null=True)
    modem = peewee.CharField(null=True)
    modem_refs = peewee.CharField(null=True)  # comma list of +CMGS references, one per segment
    delivered_refs = peewee.CharField(null=True)  # comma list of refs with a delivery report
    attempts = peewee.IntegerField(default=0)  # send attempts started (incremented on claim)
    next_attempt_at = UTCDateTimeField(null=True)  # None: due now
    last_error = peewee.TextField(null=True)
    created_at = UTCDateTimeField()
    sending_at = UTCDateTimeField(null=True)
    sent_at = UTCDateTimeField(null=True)
    delivered_at = UTCDateTimeField(null=True)
    # None: no PDU written yet (a crash here is safe to resend); 'pdu': about to be or
    # written; 'unconfirmed': a crash left it after 'pdu', a report may still settle it.
    send_step = peewee.CharField(null=True)
    # The box whose modem claimed it, and until when that claim holds (DESIGN §10).
    box = peewee.CharField(null=True)
    lease_until = UTCDateTimeField(null=True)
    # When another box took over this row, in doubt (PDU written), from its lapsed claim:
    # the policy then waits for the claim's modem to be seen again (store.leases).
    held_at = UTCDateTimeField(null=True)

    def refs(self) -> list[int]:
        """The +CMGS references as integers."""
        return [int(r) for r in str(self.modem_refs or "").split(",") if r.strip()]


class TopupOrder(BaseModel):
    """A top-up to submit to the bank; `idempotency_key` is derived from the inbound SMS."""

    id = peewee.AutoField()
    idempotency_key = peewee.CharField(unique=True)
    agreement = peewee.ForeignKeyField(Agreement, backref="topups", column_name="agreement_id")
    inbound = peewee.ForeignKeyField(
        InboundMessage, backref="topups", null=True, column_name="inbound_id"
    )
    target = peewee.CharField()  # E.164 number topped up (or the product's subscriber)
    operator = peewee.CharField()  # core.rules.Operator value
    product = peewee.CharField(null=True)  # core.rules.Product value for IPKO products
    subscriber_id = peewee.CharField(null=True)
    amount = MoneyField()
    state = peewee.CharField(default="pending")  # TOPUP_STATES
    bank_id = peewee.CharField(null=True)
    reason = peewee.TextField(null=True)
    balance_after = MoneyField(null=True)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()


class Card(BaseModel):
    """A customer's card as the bank's feed last showed it (only its last 4 digits)."""

    id = peewee.CharField(primary_key=True)
    customer = peewee.ForeignKeyField(Customer, backref="cards", column_name="customer_id")
    last4 = peewee.CharField()
    status = peewee.CharField(default="active")  # CARD_STATES
    updated_at = UTCDateTimeField(null=True)


class BankRequest(BaseModel):
    """A change a customer's SMS asks the bank to make (alerts, language, card block).

    Created with the inbound decision (I2); `idempotency_key` is derived from the inbound
    message, so a crash or a retry makes the change once and answers once.
    """

    id = peewee.AutoField()
    idempotency_key = peewee.CharField(unique=True)
    agreement = peewee.ForeignKeyField(Agreement, backref="requests",
                                       column_name="agreement_id")
    inbound = peewee.ForeignKeyField(
        InboundMessage, backref="requests", null=True, column_name="inbound_id"
    )
    kind = peewee.CharField()  # REQUEST_KINDS
    params = peewee.TextField()  # JSON: {"enabled": true} | {"language": "sr"} | {"last4": ..}
    state = peewee.CharField(default="pending")  # REQUEST_STATES
    outcome = peewee.CharField(null=True)  # core.requests.RequestOutcome value, once final
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()


class TopupConfirmation(BaseModel):
    """A top-up waiting for its one-time code (DESIGN §4); becomes a TopupOrder when confirmed."""

    id = peewee.AutoField()
    agreement = peewee.ForeignKeyField(Agreement, column_name="agreement_id")
    inbound = peewee.ForeignKeyField(InboundMessage, column_name="inbound_id")
    idempotency_key = peewee.CharField(unique=True)
    target = peewee.CharField()
    operator = peewee.CharField()
    product = peewee.CharField(null=True)
    subscriber_id = peewee.CharField(null=True)
    amount = MoneyField()
    code_digest = peewee.CharField()
    code_salt = peewee.CharField()
    expires_at = UTCDateTimeField()
    tries = peewee.IntegerField(default=0)
    state = peewee.CharField(default="awaiting_code")
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()


class RateNotice(BaseModel):
    """The one "too many messages" reply a phone got in one rate-limit window."""

    id = peewee.AutoField()
    phone = peewee.CharField()
    window = peewee.CharField()  # 'minute:<start>' or 'hour:<start>', UTC ISO
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("phone", "window"), True),)


class SyncState(BaseModel):
    """Small key/value state: the bank cursor, the last sync time, ..."""

    key = peewee.CharField(primary_key=True)
    value = peewee.TextField()


class UnknownSenderReply(BaseModel):
    """A refusal sent to a number without an agreement; at most one per phone and day."""

    id = peewee.AutoField()
    phone = peewee.CharField()
    day = peewee.CharField()  # local date, ISO 'YYYY-MM-DD'
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("phone", "day"), True),)


class ModemRecord(BaseModel):
    """The last identity seen per configured modem, so `doctor` can warn of a changed SIM."""

    name = peewee.CharField(primary_key=True)
    imsi = peewee.CharField(null=True)
    imei = peewee.CharField(null=True)
    last_seen = UTCDateTimeField(null=True)


class ModemPresence(BaseModel):
    """A modem of some box sharing this database, as its box last reported it."""

    name = peewee.CharField(primary_key=True)
    box = peewee.CharField()
    operator = peewee.CharField(null=True)
    healthy = FlagField(default=False)
    seen_at = UTCDateTimeField()


ALL_MODELS: Final[tuple[type[BaseModel], ...]] = (
    Customer,
    Agreement,
    Account,
    Movement,
    InboundMessage,
    OutboxMessage,
    TopupOrder,
    TopupConfirmation,
    RateNotice,
    SyncState,
    UnknownSenderReply,
    Card,
    BankRequest,
    ModemRecord,
    ModemPresence,
)
