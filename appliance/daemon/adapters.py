"""The adapters fitted to the flows' ports: where a modem or bank error becomes a port's.

The adapters (`modem/`, `bank/`) know nothing of the flows; the flows know only their
ports (`flows.ports`). Here, in the wiring, the two meet: the wrapper `Modem` is built
for each configured modem, a `ModemHandle` sends for the outbound flow, the bank client
answers the sync and the top-up flows, each error translated to what the flow acts on.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from appliance.bank.client import (
    BankAuthError,
    BankClient,
    BankError,
    BankRejected,
    ChangesPage,
    TopupResult,
)
from appliance.bank.results import (
    BankProtocolError,
    BankTLSError,
    BankUnavailable,
)
from appliance.config import ModemSettings
from appliance.flows.ports import BankDown, BankRefused, ModemDown, SendFailed
from appliance.modem.errors import CmsError, ModemError, ModemGone, ModemTimeout, PduError
from appliance.modem.pool import ModemHandle
from appliance.modem.types import StatusReport
from appliance.modem.wrapper import Modem
from appliance.web import events


def build_modem(modem_settings: ModemSettings, handle: ModemHandle, *,
                on_new_message: Callable[[ModemHandle], None],
                on_status_report: Callable[[str, StatusReport], None]) -> Modem:
    """Build (not open) the wrapper `Modem` for one configured modem, callbacks wired."""
    pin: str | None = None
    pin_file = modem_settings.pin_file
    if pin_file:
        pin = Path(pin_file).read_text(encoding="utf-8").strip() or None
    name = handle.name
    return Modem(
        str(modem_settings.port),
        baudrate=int(modem_settings.baudrate),
        rtscts=bool(modem_settings.rtscts),
        pin=pin,
        command_timeout=float(modem_settings.command_timeout),
        # AT+CMGS may take long on a weak network (vendors allow 60-120 s): four times the
        # command timeout (120 s with the default 30); listing may take a while too.
        send_timeout=4 * float(modem_settings.command_timeout),
        list_timeout=float(modem_settings.command_timeout),
        name=name,
        receive=str(modem_settings.receive),
        on_new_message=lambda *_a: on_new_message(handle),
        on_status_report=lambda report: on_status_report(name, report),
        on_gone=lambda *_a: handle.mark_unhealthy("port vanished"),
    )


class SendingModem:
    """A `ModemHandle` as the outbound flow's `ModemSender`."""

    def __init__(self, handle: ModemHandle) -> None:
        self.handle = handle
        # called once a send holds the modem (the outbox's lanes take turns by it)
        self.on_locked: Callable[[], None] | None = None

    @property
    def name(self) -> str:
        return self.handle.name

    @property
    def healthy(self) -> bool:
        return self.handle.healthy

    def mark_unhealthy(self, reason: str) -> None:
        self.handle.mark_unhealthy(reason)

    def wait_for_inbox(self, timeout: float) -> bool:
        return self.handle.wait_for_inbox(timeout)

    def read_first(self) -> bool:
        """Whether this send lets a just-notified message be read first (`ModemHandle`)."""
        return True

    def send_text(self, to: str, text: str,
                  progress: Callable[[str], None] | None = None) -> list[int]:
        try:
            return self.handle.send_text(to, text, progress, on_locked=self.on_locked,
                                         read_first=self.read_first())
        except CmsError as exc:
            raise SendFailed(str(exc), permanent=not exc.transient,
                             code=f"cms_{exc.code}") from exc
        except ModemTimeout as exc:
            raise ModemDown(str(exc), code="timeout") from exc
        except ModemGone as exc:
            raise ModemDown(str(exc), code="modem_gone") from exc
        except PduError as exc:
            raise SendFailed(f"cannot encode: {exc}", permanent=True, code="encode") from exc
        except ModemError as exc:
            raise SendFailed(str(exc), permanent=False, code="modem_error") from exc


def bank_error_kind(exc: BankError) -> str:
    """The short kind a failed bank request is counted under (`appliance_bank_errors_total`)."""
    if isinstance(exc, BankRejected):
        return f"http_{exc.status}"
    for kind, cls in (("tls", BankTLSError), ("unavailable", BankUnavailable),
                      ("auth", BankAuthError), ("bad_answer", BankProtocolError)):
        if isinstance(exc, cls):
            return kind
    return "error"


class BankPort:
    """The bank client as the sync's `ChangeFeed`, the top-up flow's `TopupBank` and the
    request flow's `RequestBank`.

    The feed's errors pass through (they end a sync run, whatever they are); a top-up's
    become `BankRefused` (4xx) or `BankDown` (anything else the client raises).
    """

    def __init__(self, client: BankClient) -> None:
        self.client = client

    def changes(self, after: str | None, limit: int) -> ChangesPage:
        try:
            return self.client.changes(after, limit)
        except BankError as exc:
            events.bank_error(bank_error_kind(exc))
            raise

    def topup(self, idempotency_key: str, target: str | None, operator: str,  # noqa: PLR0917
              amount: Decimal, product: str | None = None, subscriber_id: str | None = None,
              *, agreement_id: str) -> TopupResult:
        try:
            return self.client.topup(idempotency_key, target, operator, amount, product,
                                     subscriber_id, agreement_id=agreement_id)
        except BankRejected as exc:
            events.bank_error(bank_error_kind(exc))
            raise BankRefused(exc.status, exc.code) from exc
        except BankError as exc:
            events.bank_error(bank_error_kind(exc))
            raise BankDown(str(exc), auth=isinstance(exc, BankAuthError)) from exc

    def resolve_topup(self, idempotency_key: str) -> TopupResult:
        try:
            return self.client.resolve_topup(idempotency_key)
        except BankError as exc:
            events.bank_error(bank_error_kind(exc))
            raise BankDown(str(exc), auth=isinstance(exc, BankAuthError)) from exc

    def set_alerts(self, agreement_id: str, enabled: bool) -> object:
        return self._request(lambda: self.client.set_alerts(agreement_id, enabled))

    def set_language(self, agreement_id: str, language: str) -> object:
        return self._request(lambda: self.client.set_language(agreement_id, language))

    def block_card(self, idempotency_key: str, agreement_id: str, last4: str) -> object:
        return self._request(lambda: self.client.block_card(idempotency_key, agreement_id,
                                                            last4))

    @staticmethod
    def _request(call: Callable[[], object]) -> object:
        """A request flow's call, its errors as the `RequestBank` port's (a
        `BankCardUnknown` is a 404 `unknown_card` refusal)."""
        try:
            return call()
        except BankRejected as exc:
            raise BankRefused(exc.status, exc.code) from exc
        except BankError as exc:
            raise BankDown(str(exc), auth=isinstance(exc, BankAuthError)) from exc

    def close(self) -> None:
        self.client.close()
