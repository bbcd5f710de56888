"""Plain data the daemon and the store fill in for `decide` and `alerts`, and what they return.

Frozen dataclasses with no behaviour: the seam between the pure core and everything with I/O.
Times are timezone-aware UTC; money is `Decimal`; phone numbers are E.164.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from appliance.core.rules import Language, Operator, Product

__all__ = [
    "SERVICES",
    "AccountView",
    "AgreementView",
    "MovementView",
    "OrderIntent",
    "SenderView",
]

# The services an agreement can carry (DESIGN §1; the bank's "SMS bilanci/mbushje/njoftimi").
SERVICES = frozenset({"balance", "topup", "alerts"})


@dataclass(frozen=True)
class AgreementView:
    """An agreement binding a phone to a customer, as synced from the bank."""

    id: str
    phone: str  # E.164
    customer_id: str
    language: Language | str = Language.SQ
    alert_limit: Decimal = Decimal(500)
    services: frozenset[str] = SERVICES
    # The operator the bank records for this phone (a ported number keeps its prefix);
    # None: take it from the prefix.
    operator: Operator | None = None
    # When the bank last saw a new SIM behind `phone` (the SIM-swap hold); None: never.
    sim_changed_at: datetime | None = None


@dataclass(frozen=True)
class AccountView:
    """One account of the agreement's customer; `number` is the full number (the core masks it)."""

    id: str
    kind: str  # "current" | "business" | "savings"
    number: str
    balance: Decimal
    currency: str = "EUR"
    as_of: datetime | None = None  # when the bank last told us this balance


@dataclass(frozen=True)
class SenderView:
    """What the core may know about the sender of an inbound message."""

    agreement: AgreementView
    accounts: tuple[AccountView, ...] = ()
    last_sync_at: datetime | None = None
    topups_today_count: int = 0  # pending and done top-ups of this agreement today
    topups_today_amount: Decimal = Decimal(0)
    bank_reachable: bool = True
    # The latest movements of `accounts` (the statement shows the newest 5 of them; the
    # caller may pass more). None: not loaded, so no statement can be answered.
    movements: tuple[MovementView, ...] | None = None


@dataclass(frozen=True)
class MovementView:
    """One booked movement on an account (signed amount: negative is money out)."""

    id: str
    account_id: str
    amount: Decimal
    type: str
    booked_at: datetime
    balance_after: Decimal | None = None


@dataclass(frozen=True)
class OrderIntent:
    """A top-up to hand to the bank. For a phone top-up `target` is the E.164 number; for an
    IPKO product it is the subscriber id, `operator` is IPKO_FIXED (IPKO's fixed network
    sells the products) and `product`/`subscriber_id` are set."""

    target: str
    operator: Operator
    product: Product | None
    subscriber_id: str | None
    amount: Decimal
