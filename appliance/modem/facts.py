"""What a modem tells about itself and its network, one AT query each (`doctor`, health).

A mixin of `wrapper.Modem`: it needs the modem's name, its command channel and a session
(the port open and the modem ready), which `Modem` provides.
"""

from __future__ import annotations

import contextlib

from appliance.modem.at_answers import first_quoted, numbers, parse_creg
from appliance.modem.channel import Channel
from appliance.modem.errors import ModemError
from appliance.modem.types import ModemInfo, Registration


class FactQueries:
    """Identity, signal, registration, operator and service centre of an open modem."""

    name: str
    command_timeout: float
    _ch: Channel
    _info: tuple[object, ModemInfo] | None = None  # (the link asked on, its answer)
    _storages: tuple[str, ...]

    def _session(self) -> contextlib.AbstractContextManager[object]:
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        """True while the port is open and has not vanished."""
        link = self._ch.link
        return link is not None and not link.gone

    @property
    def bytes_received(self) -> int:
        """Bytes the reader has processed since the last open (0 when closed)."""
        link = self._ch.link
        return link.bytes_received if link is not None else 0

    @property
    def storages(self) -> tuple[str, ...]:
        """Message storages `list_stored()` walks (SM and/or ME, as the modem offers)."""
        return self._storages

    @property
    def answered_at(self) -> float:
        """When (monotonic) the modem last answered a command; 0 when closed."""
        link = self._ch.link
        return link.answered_at if link is not None else 0.0

    @property
    def messages_pending(self) -> bool:
        """Whether a new-message notice the modem sent is still on its way to its
        callback (`SerialLink.messages_pending`)."""
        link = self._ch.link
        return link is not None and link.messages_pending

    def info(self) -> ModemInfo:
        """Manufacturer, model, revision, IMEI and IMSI (None where the modem won't say).

        Asked once per link and init (a modem does not change while its port stays open;
        the health check asked these five every 30 s, radio time lost in a burst); the
        SIM's IMSI, which a swap changes, is `imsi()`, asked every time."""
        with self._session():
            cached = self._info
            if cached is not None and cached[0] is self._ch.link:
                return cached[1]
            info = ModemInfo(
                manufacturer=self._ch.optional("AT+CGMI", "+CGMI"),
                model=self._ch.optional("AT+CGMM", "+CGMM"),
                revision=self._ch.optional("AT+CGMR", "+CGMR"),
                imei=self._ch.optional("AT+CGSN", "+CGSN"),
                imsi=self._ch.optional("AT+CIMI", "+CIMI"),
            )
            self._info = (self._ch.link, info)
            return info

    def imsi(self) -> str | None:
        """The SIM's IMSI (`AT+CIMI`), None if the modem refuses."""
        with self._session():
            return self._ch.optional("AT+CIMI", "+CIMI")

    def signal(self) -> tuple[int, int]:
        """`AT+CSQ` as (rssi 0–31 or 99 unknown, ber 0–7 or 99)."""
        with self._session():
            values = numbers(self._ch.value("AT+CSQ", "+CSQ"))
        if len(values) < 2:
            raise ModemError(f"{self.name}: unreadable +CSQ answer")
        return values[0], values[1]

    def signal_dbm(self) -> int | None:
        """Received signal strength in dBm (-113 … -51), None when unknown."""
        rssi, _ber = self.signal()
        return None if not 0 <= rssi <= 31 else -113 + 2 * rssi

    def registration(self) -> Registration:
        """Network registration (`AT+CREG?`)."""
        with self._session():
            registration = parse_creg(self._ch.value("AT+CREG?", "+CREG"))
        if registration is None:
            raise ModemError(f"{self.name}: unreadable +CREG answer")
        return registration

    def operator_name(self) -> str | None:
        """The network's name as `AT+COPS?` gives it, None when not registered."""
        with self._session():
            return first_quoted(self._ch.value("AT+COPS?", "+COPS"))

    def smsc(self) -> str | None:
        """The service centre number the SIM holds (`AT+CSCA?`), None if unset."""
        with self._session():
            return first_quoted(self._ch.value("AT+CSCA?", "+CSCA"))

    def ping(self) -> bool:
        """True when the modem answers `AT` with `OK` (never raises)."""
        try:
            with self._session():
                self._ch.cmd("AT", timeout=min(self.command_timeout, 5.0))
        except ModemError:
            return False
        return True

    def storage_usage(self) -> dict[str, tuple[int, int]]:
        """(used, total) per storage `list_stored()` walks; a full SIM stops `+CMTI`."""
        usage: dict[str, tuple[int, int]] = {}
        with self._session():
            for storage in self._storages:
                values = numbers(self._ch.select(storage, fresh=True))
                if len(values) >= 2:
                    usage[storage] = (values[0], values[1])
        return usage
