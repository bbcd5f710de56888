"""The bank API client (docs/bank-api.yaml) on httpx: typed results, retries, clear errors.

- The bearer token is read from a file (a systemd credential in production), again after a
  401 in case it was rotated.
- TLS is verified, against `ca_file` when given (a private bank CA), else the system store.
- Timeouts, connection errors and 5xx are retried with exponential backoff and jitter; a 4xx
  never is (it would fail the same way). Top-ups and card blocks are safe to retry: they
  carry an Idempotency-Key, so the bank answers a retry with the first answer (DESIGN §2
  I3); the PUTs (phone, alerts, language) are idempotent by nature.
- Money comes back as `Decimal`; a JSON float in money is a protocol error.
- JSON is read as `object` and narrowed field by field: a wrong shape is a
  `BankProtocolError`, never an AttributeError deep in the daemon.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote

import httpx

from appliance.bank.parse import agreement, money_out, obj, parse_page, topup_result
from appliance.bank.results import (
    LANGUAGES,
    BankAccount,
    BankAgreement,
    BankAuthError,
    BankCard,
    BankCardUnknown,
    BankCustomer,
    BankError,
    BankMovement,
    BankProtocolError,
    BankRejected,
    BankTLSError,
    BankUnavailable,
    CardBlockResult,
    ChangesPage,
    JsonObject,
    TopupResult,
)

__all__ = [
    "LANGUAGES", "BankAccount", "BankAgreement", "BankAuthError", "BankCard", "BankCardUnknown",
    "BankClient", "BankCustomer", "BankError", "BankMovement", "BankProtocolError",
    "BankRejected", "BankTLSError", "BankUnavailable", "CardBlockResult", "ChangesPage",
    "JsonObject", "TopupResult",
]

log = logging.getLogger(__name__)


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
            return parse_page(obj(body, "changes page"))
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
        body: dict[str, object] = {
            "agreement_id": agreement_id,
            "operator": str(operator),
            "amount": money_out(amount),
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
        return topup_result(answer)

    def resolve_topup(self, idempotency_key: str) -> TopupResult:
        """The bank's answer for a key, without ever starting a top-up: a key the bank never
        received is closed as `rejected`/`not_received`, so a late copy cannot debit."""
        answer = self._request("POST", f"/v1/topups/{quote(idempotency_key, safe='')}/resolve")
        return topup_result(answer)

    def rebind_phone(self, agreement_id: str, phone: str) -> BankAgreement:
        """Re-bind an agreement to a changed phone number (branch staff only)."""
        return self._put_agreement(agreement_id, "phone", {"phone": phone})

    def set_alerts(self, agreement_id: str, enabled: bool) -> BankAgreement:
        """Turn the agreement's alerts on or off (the customer's STOP/START); the agreement
        as it now is. The change also comes back through `changes`."""
        return self._put_agreement(agreement_id, "alerts", {"enabled": bool(enabled)})

    def set_language(self, agreement_id: str, language: str) -> BankAgreement:
        """Set the agreement's SMS language (`sq`, `en` or `sr`); the agreement as it now is."""
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        return self._put_agreement(agreement_id, "language", {"language": language})

    def block_card(self, idempotency_key: str, agreement_id: str, last4: str) -> CardBlockResult:
        """Block the agreement's customer's card ending in `last4`; the same key always gets
        the same answer. `BankCardUnknown` (a `BankRejected`, 404) when the bank has no such
        card for that customer."""
        if not (len(last4) == 4 and last4.isascii() and last4.isdigit()):
            raise ValueError(f"last4 must be 4 digits, got {last4!r}")
        try:
            answer = self._request(
                "POST", "/v1/cards/block", json={"agreement_id": agreement_id, "last4": last4},
                headers={"Idempotency-Key": idempotency_key},
            )
        except BankRejected as exc:
            if exc.status == 404 and exc.code == "unknown_card":
                raise BankCardUnknown(exc.status, exc.code, exc.message) from exc
            raise
        try:
            body = obj(answer, "card block answer")
            if body["status"] != "blocked":
                raise ValueError(f"status {body['status']!r}")
            return CardBlockResult(card_id=str(body["card_id"]), status="blocked")
        except (KeyError, TypeError, ValueError) as exc:
            raise BankProtocolError(f"malformed card block answer: {exc!r}") from exc

    def _put_agreement(self, agreement_id: str, what: str, body: JsonObject) -> BankAgreement:
        answer = self._request(
            "PUT", f"/v1/agreements/{quote(agreement_id, safe='')}/{what}", json=body
        )
        try:
            return agreement(obj(answer, "agreement"))
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
        json: JsonObject | None = None, headers: Mapping[str, str] | None = None,
    ) -> object:
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
                        decoded: object = response.json(parse_float=_float_refused)
                    except ValueError as exc:
                        raise BankProtocolError(f"{method} {path}: not JSON: {exc}") from exc
                    return decoded
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
        body: object = response.json()
    except ValueError:
        return "error", response.text[:200]
    if not isinstance(body, dict):
        return "error", response.text[:200]
    return str(body.get("error", "error")), str(body.get("message", ""))


def _error_text(response: httpx.Response) -> str:
    code, message = _error_fields(response)
    return f"{code}: {message}"
