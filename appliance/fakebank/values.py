"""What every part of the fake bank shares: its error, its clock, money and time as the
contract writes them, the movement type codes, and typed reads of JSON objects."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

# A JSON object as it comes off the wire or out of the seed YAML (values still unchecked).
JsonObject = dict[str, object]

CENT = Decimal("0.01")
# The movement types this bank books (docs/bank-api.md). The contract lets a bank add more:
# the fake books any other code it is given, so that the box's neutral word can be tried.
TYPE_CODES = (
    "card_payment", "card_refund", "atm_withdrawal", "cash_deposit", "cash_withdrawal",
    "transfer_in", "transfer_out", "standing_order", "direct_debit", "salary", "pension",
    "fee", "interest", "topup", "refund", "loan_repayment",
)
LANGUAGES = ("sq", "en", "sr")
CARD_STATUSES = ("active", "blocked")


class FakeBankError(Exception):
    """A request the fake bank refuses with an HTTP error: `status`, `code`, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def utcnow() -> datetime:
    """The fake bank's clock (the bank is I/O; it may read the time)."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO 8601 in UTC with an explicit offset, as the contract wants."""
    return ts.astimezone(UTC).isoformat(timespec="seconds")


def money(value: Decimal) -> str:
    """A Decimal as the contract's money string: two decimals, no exponent."""
    return str(value.quantize(CENT))


def parse_money(text: object, what: str) -> Decimal:
    """Parse a money string from a request; a float or junk is a 400."""
    if not isinstance(text, str):
        raise FakeBankError(400, "bad_request", f"{what}: expected a decimal string")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise FakeBankError(400, "bad_request", f"{what}: not a decimal: {text!r}") from exc
    if not value.is_finite() or value != value.quantize(CENT):
        raise FakeBankError(400, "bad_request", f"{what}: at most two decimals")
    return value


def is_e164(value: object) -> bool:
    """Whether `value` is an E.164 phone number string (`+` and 7 to 15 digits)."""
    return (isinstance(value, str) and value.startswith("+") and value[1:].isdigit()
            and 8 <= len(value) <= 16 and value[1] != "0")


def objects(value: object) -> list[JsonObject]:
    """The JSON objects of a list (a missing list is empty); anything else is a ValueError."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"expected a list of objects, got {value!r}")
    return [{str(k): v for k, v in item.items()} for item in value]
