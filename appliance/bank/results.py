"""What the bank API client answers with: its errors and its typed results (frozen
dataclasses; money as Decimal, times as aware datetimes). `appliance.bank.client` re-exports
them all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


class BankError(Exception):
    """Anything that went wrong talking to the bank."""


class BankUnavailable(BankError):
    """The bank could not be reached or failed (timeouts, refused, 5xx) after retries."""


class BankTLSError(BankUnavailable):
    """The bank's certificate did not verify (wrong CA file, name, expiry): not retried,
    because it will not heal by itself within seconds."""


class BankAuthError(BankError):
    """The bank refused our token (401/403): a configuration problem, not retried."""


class BankRejected(BankError):
    """The bank refused the request (a 4xx other than auth): `status`, `code`, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class BankCardUnknown(BankRejected):
    """`POST /v1/cards/block`: no such card for that agreement's customer (the bank says no
    more: an unknown card, another customer's and a closed agreement look the same)."""


class BankProtocolError(BankError):
    """The bank answered something that breaks the contract."""


# A JSON object as decoded (values still to be checked).
JsonObject = Mapping[str, object]
LANGUAGES = ("sq", "en", "sr")


@dataclass(frozen=True, slots=True)
class BankCustomer:
    id: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class BankAgreement:
    id: str
    customer_id: str
    phone: str
    services: tuple[str, ...]
    alert_limit: Decimal | None
    language: str
    active: bool
    alerts_enabled: bool = True  # False while the customer turned alerts off (STOP)
    sim_changed_at: datetime | None = None  # the operator's last SIM change behind `phone`


@dataclass(frozen=True, slots=True)
class BankCard:
    id: str
    customer_id: str
    last4: str
    status: str  # "active" or "blocked"

    @property
    def blocked(self) -> bool:
        return self.status == "blocked"


@dataclass(frozen=True, slots=True)
class BankAccount:
    id: str
    customer_id: str
    kind: str
    number: str
    currency: str
    balance: Decimal
    as_of: datetime


@dataclass(frozen=True, slots=True)
class BankMovement:
    id: str
    account_id: str
    amount: Decimal
    type: str
    booked_at: datetime
    balance_after: Decimal


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """One page of `GET /v1/changes`."""

    cursor: str
    more: bool
    customers: tuple[BankCustomer, ...]
    agreements: tuple[BankAgreement, ...]
    accounts: tuple[BankAccount, ...]
    movements: tuple[BankMovement, ...]
    cards: tuple[BankCard, ...] = ()


@dataclass(frozen=True, slots=True)
class TopupResult:
    """The bank's answer to `POST /v1/topups`: `status` is `done` or `rejected`."""

    id: str
    status: str
    reason: str | None = None
    balance_after: Decimal | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"


@dataclass(frozen=True, slots=True)
class CardBlockResult:
    """The bank's answer to `POST /v1/cards/block`: the card is blocked (now or before)."""

    card_id: str
    status: str  # always "blocked": a block never unblocks
