"""The ports: what the use cases need from the world, as typed Protocols (DESIGN §8).

The flows talk to a modem, the pool of modems, the bank and a clock only through these.
The adapters (`modem/`, `bank/`) know nothing of them; the daemon's wiring
(`appliance.daemon.adapters`) fits each adapter to its port and turns the adapter's
errors into the few failures below that the flows act on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol


class Clock(Protocol):
    """The time now (aware, UTC)."""

    def __call__(self) -> datetime: ...


# --- modems ----------------------------------------------------------------------------


class StoredMessage(Protocol):
    """A message as the modem keeps it: where, and its raw PDU (hex, SMSC included)."""

    @property
    def storage(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def pdu(self) -> str: ...
    @property
    def received(self) -> bool: ...  # False for an outgoing message stored on the SIM


class ConcatHeader(Protocol):
    """A concatenated message's header: all parts share `ref`; `seq` runs 1..`total`."""

    @property
    def ref(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def seq(self) -> int: ...


class DeliverMessage(Protocol):
    """A decoded SMS-DELIVER: sender as the network gives it, service-centre time (UTC)."""

    @property
    def sender(self) -> str: ...
    @property
    def smsc_time(self) -> datetime | None: ...
    @property
    def text(self) -> str: ...
    @property
    def concat(self) -> ConcatHeader | None: ...
    @property
    def smsc(self) -> str | None: ...  # the service centre the PDU names (smsc_allow)


class ModemStorage(Protocol):
    """A modem as the inbound flow reads it: list, decode (raises when it cannot), delete
    (one slot, or a listing's committed messages together)."""

    @property
    def name(self) -> str: ...

    def list_stored(self) -> Sequence[StoredMessage]: ...

    def decode(self, pdu: str) -> DeliverMessage: ...

    def delete_stored(self, storage: str, index: int) -> None: ...

    def delete_committed(self, slots: Sequence[tuple[str, int]]) -> None: ...


class ModemSender(Protocol):
    """A modem as the outbound flow sends through it.

    `send_text` returns the modem's references (one per part) or raises `SendFailed`
    (`ModemDown` when the modem stopped answering). `progress` hears how far each part
    got: `"prompt"` (its PDU is about to be written), `"written"`, `"answered"`.
    """

    @property
    def name(self) -> str: ...
    @property
    def healthy(self) -> bool: ...

    def send_text(self, to: str, text: str,
                  progress: Callable[[str], None] | None = None) -> list[int]: ...

    def mark_unhealthy(self, reason: str) -> None: ...

    def wait_for_inbox(self, timeout: float) -> bool: ...


class Routing(Protocol):
    """Which modem a message should leave through (DESIGN §3: on-net when healthy)."""

    def route(self, phone: str) -> str | None: ...

    def excluded_for(self, name: str) -> set[str]: ...

    def __len__(self) -> int: ...


class SendFailed(Exception):
    """The modem did not take a message; `permanent`: sending it again cannot help.

    `code` is a short reason for the metrics (`cms_500`, `timeout`, `encode`): no number
    of a customer's ever goes in it.
    """

    def __init__(self, reason: str, *, permanent: bool, code: str = "send_error") -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.code = code


class ModemDown(SendFailed):
    """The modem stopped answering: the message may have gone out (I5)."""

    def __init__(self, reason: str, *, code: str = "modem_down") -> None:
        super().__init__(reason, permanent=False, code=code)


# --- the bank --------------------------------------------------------------------------


class BankCustomer(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


class BankAgreement(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def services(self) -> Sequence[str]: ...
    @property
    def alert_limit(self) -> Decimal | None: ...
    @property
    def language(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def alerts_enabled(self) -> bool: ...
    @property
    def sim_changed_at(self) -> datetime | None: ...  # the SIM-swap hold (DESIGN §4)


class BankAccount(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def balance(self) -> Decimal: ...
    @property
    def as_of(self) -> datetime: ...


class BankMovement(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def type(self) -> str: ...
    @property
    def booked_at(self) -> datetime: ...
    @property
    def balance_after(self) -> Decimal: ...


class BankCard(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def last4(self) -> str: ...
    @property
    def status(self) -> str: ...


class ChangesPage(Protocol):
    """One page of the bank's change feed (docs/bank-api.md), parents before children."""

    @property
    def cursor(self) -> str: ...
    @property
    def more(self) -> bool: ...
    @property
    def customers(self) -> Sequence[BankCustomer]: ...
    @property
    def agreements(self) -> Sequence[BankAgreement]: ...
    @property
    def accounts(self) -> Sequence[BankAccount]: ...
    @property
    def movements(self) -> Sequence[BankMovement]: ...
    @property
    def cards(self) -> Sequence[BankCard]: ...


class ChangeFeed(Protocol):
    """The bank as the sync reads it; its errors end the run (the next one goes on)."""

    def changes(self, after: str | None, limit: int) -> ChangesPage: ...


class TopupAnswer(Protocol):
    """The bank's answer to a top-up: `done` or not, why not, the balance after."""

    @property
    def id(self) -> str: ...
    @property
    def done(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def balance_after(self) -> Decimal | None: ...


class TopupBank(Protocol):
    """The bank as the top-up flow calls it: the same key always gets the same answer.

    Raises `BankRefused` (the request itself is wrong: sending it again fails alike) or
    `BankDown` (unreachable, 5xx, a broken answer, a token problem: it may have debited).
    """

    def topup(self, idempotency_key: str, target: str | None, operator: str,  # noqa: PLR0917
              amount: Decimal, product: str | None = None, subscriber_id: str | None = None,
              *, agreement_id: str) -> TopupAnswer: ...

    def resolve_topup(self, idempotency_key: str) -> TopupAnswer: ...


class RequestBank(Protocol):
    """The bank as the request flow calls it (STOP/START, SQ/EN/SR, BLLOKO); the answers'
    contents are not needed, only that the change was made.

    Raises `BankRefused` (code `unknown_card` for a card that is not this customer's) or
    `BankDown` (unreachable, 5xx, ...: the same call is made again later).
    """

    def set_alerts(self, agreement_id: str, enabled: bool) -> object: ...

    def set_language(self, agreement_id: str, language: str) -> object: ...

    def block_card(self, idempotency_key: str, agreement_id: str, last4: str) -> object: ...


class BankDown(Exception):
    """The bank could not be asked, or its answer is unknown; `auth`: the token failed."""

    def __init__(self, reason: str, *, auth: bool = False) -> None:
        super().__init__(reason)
        self.auth = auth


class BankRefused(Exception):
    """The bank refused the request (4xx) with `status` and its error `code`."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


class PageRejected(Exception):
    """A change-feed page breaks the store's constraints: the bank's protocol error."""


# --- metrics ---------------------------------------------------------------------------


class Metrics(Protocol):
    """What the flows count as it happens (docs/metrics.md). Arguments are short codes
    and counts, never a phone or an account number. The daemon plugs in
    `appliance.web.events`; until then (tests, tools) nothing is counted."""

    def inbound_stored(self, parts: int = 1) -> None: ...
    def sms_sent(self, kind: str) -> None: ...
    def reply_submitted(self, stored_at: datetime, submitted_at: datetime) -> None: ...
    def send_failed(self, reason: str) -> None: ...
    def send_retried(self) -> None: ...
    def resent_after_crash(self, count: int = 1) -> None: ...
    def bank_error(self, kind: str) -> None: ...
    def topup_finished(self, status: str) -> None: ...
    def card_block(self, status: str) -> None: ...


class NoMetrics:
    """Counts nothing: the port's default."""

    def inbound_stored(self, parts: int = 1) -> None:
        """Nothing."""

    def sms_sent(self, kind: str) -> None:
        """Nothing."""

    def reply_submitted(self, stored_at: datetime, submitted_at: datetime) -> None:
        """Nothing."""

    def send_failed(self, reason: str) -> None:
        """Nothing."""

    def send_retried(self) -> None:
        """Nothing."""

    def resent_after_crash(self, count: int = 1) -> None:
        """Nothing."""

    def bank_error(self, kind: str) -> None:
        """Nothing."""

    def topup_finished(self, status: str) -> None:
        """Nothing."""

    def card_block(self, status: str) -> None:
        """Nothing."""


# One per process, like the Prometheus registry it feeds: a flow's call stays one line
# (`metrics().sms_sent(kind)`) instead of a parameter threaded through every use case.
_METRICS: Final[list[Metrics]] = [NoMetrics()]


def metrics() -> Metrics:
    """The process's metrics sink (a no-op until `use_metrics`)."""
    return _METRICS[0]


def use_metrics(sink: Metrics) -> None:
    """Count the flows' events into `sink` from now on (the daemon, at start)."""
    _METRICS[0] = sink
