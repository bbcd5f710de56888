"""The bank API client (docs/bank-api.yaml) on httpx: typed results, retries, clear errors.

- The bearer token is read from a file (a systemd credential in production), again after a
  401 in case it was rotated.
- TLS is verified, against `ca_file` when given (a private bank CA), else the system store.
- Timeouts, connection errors and 5xx are retried with exponential backoff and jitter; a 4xx
  never is (it would fail the same way). Top-ups are safe to retry: they carry an
  Idempotency-Key, so the bank answers a retry with the first answer (DESIGN §2 I3).
- Money comes back as `Decimal`; a JSON float in money is a protocol error.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)


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


class BankProtocolError(BankError):
    """The bank answered something that breaks the contract."""


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


def _tls(ca_file: Path | None) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(ca_file))


class BankClient:
    """A client for the bank API; one instance per daemon, safe to share between threads."""

    def __init__(
        self,
        url: str,
        token_file: Path,
        *,
        ca_file: Path | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token_file = Path(token_file)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._token = self._read_token()
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            verify=_tls(ca_file),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "sms-appliance/1"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> BankClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints -----------------------------------------------------------------------

    def changes(self, after: str | None, limit: int) -> ChangesPage:
        """One page of changes after the cursor `after` (None: from the beginning)."""
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        body = self._request("GET", "/v1/changes", params=params)
        try:
            return _parse_page(body)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise BankProtocolError(f"malformed changes page: {exc!r}") from exc

    def topup(  # noqa: PLR0917 -- the seam's agreed signature (docs/internals.md)
        self,
        idempotency_key: str,
        target: str | None,
        operator: str,
        amount: Decimal,
        product: str | None = None,
        subscriber_id: str | None = None,
        *,
        agreement_id: str,
    ) -> TopupResult:
        """Ask the bank to debit and top up; the same key always yields the same answer."""
        body: dict[str, Any] = {
            "agreement_id": agreement_id,
            "operator": str(operator),
            "amount": _money_out(amount),
        }
        if target is not None:
            body["target"] = target
        if product is not None:
            body["product"] = str(product)
        if subscriber_id is not None:
            body["subscriber_id"] = subscriber_id
        answer = self._request(
            "POST", "/v1/topups", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        return _topup_result(answer)

    def resolve_topup(self, idempotency_key: str) -> TopupResult:
        """The bank's answer for a key, without ever starting a top-up: a key the bank never
        received is closed as `rejected`/`not_received`, so a late copy cannot debit."""
        answer = self._request("POST", f"/v1/topups/{quote(idempotency_key, safe='')}/resolve")
        return _topup_result(answer)

    def rebind_phone(self, agreement_id: str, phone: str) -> BankAgreement:
        """Re-bind an agreement to a changed phone number (branch staff only)."""
        answer = self._request(
            "PUT", f"/v1/agreements/{quote(agreement_id, safe='')}/phone", json={"phone": phone}
        )
        try:
            return _agreement(answer)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise BankProtocolError(f"malformed agreement: {exc!r}") from exc

    # -- transport -----------------------------------------------------------------------

    def _read_token(self) -> str:
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BankAuthError(
                f"cannot read the bank token file {self.token_file}: {exc}"
            ) from exc
        if not token:
            raise BankAuthError(f"the bank token file {self.token_file} is empty")
        return token

    def _delay(self, attempt: int) -> float:
        # Exponential backoff with "full jitter" in its upper half: spreads retries of
        # many boxes without ever retrying at once.
        ceiling = min(self.max_backoff, self.backoff * (2.0**attempt))
        return ceiling * random.uniform(0.5, 1.0)

    def _request(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
        json: Any = None, headers: Mapping[str, str] | None = None,
    ) -> Any:
        reread_token = True
        attempt = 0
        while True:
            all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
            problem: str
            try:
                response = self._http.request(
                    method, path, params=params, json=json, headers=all_headers
                )
            except httpx.TimeoutException as exc:
                problem = f"timeout ({type(exc).__name__})"
            except httpx.TransportError as exc:
                cause = _tls_failure(exc)
                if cause is not None:
                    raise BankTLSError(
                        f"{method} {path}: TLS verification failed: {cause.verify_message}"
                    ) from exc
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 300:
                    try:
                        return response.json(parse_float=_float_refused)
                    except ValueError as exc:
                        raise BankProtocolError(f"{method} {path}: not JSON: {exc}") from exc
                if status in (401, 403):
                    if reread_token:  # the credential may have been rotated under us
                        reread_token = False
                        fresh = self._read_token()
                        if fresh != self._token:
                            self._token = fresh
                            continue
                    raise BankAuthError(f"{method} {path}: {status} {_error_text(response)}")
                if status < 500:
                    code, message = _error_fields(response)
                    raise BankRejected(status, code, message)
                problem = f"HTTP {status} {_error_text(response)}"
            if attempt >= self.retries:
                raise BankUnavailable(f"{method} {path}: {problem} after {attempt + 1} attempt(s)")
            delay = self._delay(attempt)
            log.info("bank %s %s: %s; retry in %.2fs", method, path, problem, delay)
            self._sleep(delay)
            attempt += 1


def _tls_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind a transport error (httpx wraps httpcore,
    which wraps ssl), if that is what it is."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _float_refused(text: str) -> Decimal:
    # The contract has no JSON numbers with fractions; take them exactly rather than as
    # float, and let the money parser refuse them where money is expected.
    return Decimal(text)


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
        return str(body.get("error", "error")), str(body.get("message", ""))
    except (ValueError, AttributeError):
        return "error", response.text[:200]


def _error_text(response: httpx.Response) -> str:
    code, message = _error_fields(response)
    return f"{code}: {message}"


def _money_out(amount: Decimal) -> str:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"amount must be a finite Decimal, got {amount!r}")
    return str(amount.quantize(Decimal("0.01")))


def _money_in(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f"money must be a decimal string, got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"money not finite: {value!r}")
    return amount


def _time_in(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("time must be an ISO 8601 string")
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        raise ValueError(f"time without offset: {value!r}")
    return ts


def _topup_result(answer: Any) -> TopupResult:
    try:
        status = answer["status"]
        if status not in ("done", "rejected"):
            raise ValueError(f"status {status!r}")
        after = answer.get("balance_after")
        return TopupResult(
            id=str(answer["id"]),
            status=status,
            reason=answer.get("reason"),
            balance_after=None if after is None else _money_in(after),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
        raise BankProtocolError(f"malformed top-up answer: {exc!r}") from exc


def _agreement(a: Mapping[str, Any]) -> BankAgreement:
    limit = a["alert_limit"]
    return BankAgreement(
        id=str(a["id"]),
        customer_id=str(a["customer_id"]),
        phone=str(a["phone"]),
        services=tuple(str(s) for s in a["services"]),
        alert_limit=None if limit is None else _money_in(limit),
        language=str(a["language"]),
        active=bool(a["active"]),
    )


def _parse_page(body: Mapping[str, Any]) -> ChangesPage:
    more = body["more"]
    if not isinstance(more, bool):
        raise ValueError("more must be a boolean")
    return ChangesPage(
        cursor=str(body["cursor"]),
        more=more,
        customers=tuple(
            BankCustomer(id=str(c["id"]), name=str(c["name"]), kind=str(c["kind"]))
            for c in body["customers"]
        ),
        agreements=tuple(_agreement(a) for a in body["agreements"]),
        accounts=tuple(
            BankAccount(
                id=str(a["id"]), customer_id=str(a["customer_id"]), kind=str(a["kind"]),
                number=str(a["number"]), currency=str(a["currency"]),
                balance=_money_in(a["balance"]), as_of=_time_in(a["as_of"]),
            )
            for a in body["accounts"]
        ),
        movements=_movements(body["movements"]),
    )


def _movements(rows: Sequence[Mapping[str, Any]]) -> tuple[BankMovement, ...]:
    """The page's movements: the hot loop of a large sync, so written out flat."""
    out: list[BankMovement] = []
    append = out.append
    parse_time = datetime.fromisoformat
    for m in rows:
        amount, after, booked = m["amount"], m["balance_after"], m["booked_at"]
        if type(amount) is not str or type(after) is not str or type(booked) is not str:
            raise ValueError(f"movement {m.get('id')!r}: money and time must be strings")
        value, balance, ts = Decimal(amount), Decimal(after), parse_time(booked)
        if not (value.is_finite() and balance.is_finite()) or ts.tzinfo is None:
            raise ValueError(f"movement {m.get('id')!r}: bad amount, balance or time")
        append(BankMovement(str(m["id"]), str(m["account_id"]), value, str(m["type"]), ts,
                            balance))
    return tuple(out)
