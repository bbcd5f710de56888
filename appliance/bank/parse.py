"""Reading the bank's JSON into the client's typed results: every value is narrowed from
`object`, so a wrong shape is a ValueError/KeyError/TypeError the client turns into a
`BankProtocolError`, never an AttributeError deep in the daemon."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from appliance.bank.results import (
    BankAccount,
    BankAgreement,
    BankCard,
    BankCustomer,
    BankMovement,
    BankProtocolError,
    ChangesPage,
    JsonObject,
    TopupResult,
)


def money_out(amount: Decimal) -> str:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"amount must be a finite Decimal, got {amount!r}")
    return str(amount.quantize(Decimal("0.01")))


def money_in(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f"money must be a decimal string, got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"money not finite: {value!r}")
    return amount


def time_in(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("time must be an ISO 8601 string")
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        raise ValueError(f"time without offset: {value!r}")
    return ts


def obj(value: object, what: str) -> JsonObject:
    """`value` as a JSON object, or a ValueError naming `what`."""
    if not isinstance(value, dict):
        raise ValueError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def objects(value: object, what: str) -> list[JsonObject]:
    """`value` as a list of JSON objects, or a ValueError naming `what`."""
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a list, got {type(value).__name__}")
    return [obj(item, what) for item in value]


def strs(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a list, got {type(value).__name__}")
    return tuple(str(item) for item in value)


def optional_time(value: object) -> datetime | None:
    return None if value is None else time_in(value)


def topup_result(answer: object) -> TopupResult:
    try:
        body = obj(answer, "top-up answer")
        status = body["status"]
        if status not in ("done", "rejected"):
            raise ValueError(f"status {status!r}")
        after, reason = body.get("balance_after"), body.get("reason")
        return TopupResult(
            id=str(body["id"]),
            status=str(status),
            reason=None if reason is None else str(reason),
            balance_after=None if after is None else money_in(after),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise BankProtocolError(f"malformed top-up answer: {exc!r}") from exc


def agreement(a: JsonObject) -> BankAgreement:
    limit = a["alert_limit"]
    alerts_enabled = a.get("alerts_enabled", True)
    if not isinstance(alerts_enabled, bool):
        raise ValueError("alerts_enabled must be a boolean")
    return BankAgreement(
        id=str(a["id"]),
        customer_id=str(a["customer_id"]),
        phone=str(a["phone"]),
        services=strs(a["services"], "services"),
        alert_limit=None if limit is None else money_in(limit),
        language=str(a["language"]),
        active=bool(a["active"]),
        alerts_enabled=alerts_enabled,
        sim_changed_at=optional_time(a.get("sim_changed_at")),
    )


def card(c: JsonObject) -> BankCard:
    return BankCard(id=str(c["id"]), customer_id=str(c["customer_id"]),
                    last4=str(c["last4"]), status=str(c["status"]))


def parse_page(body: JsonObject) -> ChangesPage:
    more = body["more"]
    if not isinstance(more, bool):
        raise ValueError("more must be a boolean")
    return ChangesPage(
        cursor=str(body["cursor"]),
        more=more,
        customers=tuple(
            BankCustomer(id=str(c["id"]), name=str(c["name"]), kind=str(c["kind"]))
            for c in objects(body["customers"], "customers")
        ),
        agreements=tuple(agreement(a) for a in objects(body["agreements"], "agreements")),
        accounts=tuple(
            BankAccount(
                id=str(a["id"]), customer_id=str(a["customer_id"]), kind=str(a["kind"]),
                number=str(a["number"]), currency=str(a["currency"]),
                balance=money_in(a["balance"]), as_of=time_in(a["as_of"]),
            )
            for a in objects(body["accounts"], "accounts")
        ),
        movements=movements(body["movements"]),
        # A bank on the contract before cards sends none: an empty list, not an error.
        cards=tuple(card(c) for c in objects(body.get("cards", []), "cards")),
    )


def movements(rows: object) -> tuple[BankMovement, ...]:
    """The page's movements: the hot loop of a large sync, so written out flat."""
    if type(rows) is not list:
        raise ValueError("movements: expected a list")
    out: list[BankMovement] = []
    append = out.append
    parse_time = datetime.fromisoformat
    for m in rows:
        if type(m) is not dict:
            raise ValueError("movements: expected JSON objects")
        amount, after, booked = m["amount"], m["balance_after"], m["booked_at"]
        if type(amount) is not str or type(after) is not str or type(booked) is not str:
            raise ValueError(f"movement {m.get('id')!r}: money and time must be strings")
        value, balance, ts = Decimal(amount), Decimal(after), parse_time(booked)
        if not (value.is_finite() and balance.is_finite()) or ts.tzinfo is None:
            raise ValueError(f"movement {m.get('id')!r}: bad amount, balance or time")
        append(BankMovement(str(m["id"]), str(m["account_id"]), value, str(m["type"]), ts,
                            balance))
    return tuple(out)
